"""One module per `python -m bench COMMAND` (bench/cli.py is the dispatcher and imports none of them
up front), each with add_arguments(parser) and run(args); command_args holds what they share.
"""
