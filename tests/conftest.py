import os

# Before any test module imports TensorFlow: keep its start-up chatter out of the logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
