"""Each framework's GPU allocator statistics, read around one call (bench/commands/memory.py; CPU uses RSS there).

Reset before the call where the framework allows it: torch `max_memory_allocated`
(Keras on torch too), TensorFlow `get_memory_info` peak, JAX `memory_stats`
peak_bytes_in_use (which cannot be reset: on JAX the peak is the largest call so far).
"""

from __future__ import annotations


class TorchCudaProbe:
    method = "torch.cuda.max_memory_allocated"

    def __init__(self):
        import torch

        self.torch = torch

    def measure(self, call) -> tuple[int, int]:
        cuda = self.torch.cuda
        cuda.synchronize()
        cuda.reset_peak_memory_stats()
        baseline = cuda.memory_allocated()
        call()
        cuda.synchronize()
        return cuda.max_memory_allocated() - baseline, baseline


class TensorFlowGpuProbe:
    method = "tf.config.experimental.get_memory_info peak"

    def __init__(self):
        import tensorflow as tf

        self.experimental = tf.config.experimental

    def measure(self, call) -> tuple[int, int]:
        self.experimental.reset_memory_stats("GPU:0")
        baseline = self.experimental.get_memory_info("GPU:0")["current"]
        call()  # Keras returns host arrays: the device is done
        return self.experimental.get_memory_info("GPU:0")["peak"] - baseline, baseline


class JaxGpuProbe:
    method = "jax memory_stats peak_bytes_in_use (not resettable)"

    def __init__(self):
        import jax

        self.device = next(d for d in jax.devices() if d.platform == "gpu")

    def measure(self, call) -> tuple[int, int]:
        baseline = self.device.memory_stats()["bytes_in_use"]
        call()
        return max(0, self.device.memory_stats()["peak_bytes_in_use"] - baseline), baseline
