"""Which LSTM kernel a framework actually runs, so a reader can see why a ratio is what it is.

Native torch is asked directly (the profiler lists the ATen ops of one
forward pass). For Keras the choice is a rule in its backend code
(keras/src/layers/rnn/lstm.py `inner_loop` and each backend's rnn.py), repeated here.
"""

from __future__ import annotations

# ATen op -> what it means, most specific first.
_TORCH_LSTM_OPS = (
    ("aten::_cudnn_rnn", "cuDNN LSTM (aten::_cudnn_rnn)"),
    ("aten::mkldnn_rnn_layer", "oneDNN LSTM (aten::mkldnn_rnn_layer)"),
    ("aten::_thnn_fused_lstm_cell", "fused CUDA LSTM cell, one launch per step"),
    ("aten::lstm_cell", "ATen LSTM cell loop"),
)


def keras_lstm_kernel(backend: str, device: str, compiled: bool) -> str:
    gpu = device == "cuda"
    if backend == "tensorflow":
        if gpu:
            return "cuDNN LSTM (Keras turns XLA off for it)"
        return "tf.while_loop of LSTM cells, " + ("XLA-compiled" if compiled else "tf.function graph")
    if backend == "jax":
        if gpu:
            return "cuDNN LSTM (jax.experimental.rnn)"
        return "lax.scan of LSTM cells, " + ("jax.jit (XLA)" if compiled else "op by op, no jax.jit")
    if backend == "torch":
        if gpu and not compiled:
            return "cuDNN LSTM (aten::_cudnn_rnn)"
        loop = "Python loop: one input matmul, then a recurrent matmul per step"
        return loop + (", traced by torch.compile" if compiled else ", eager")
    return "unknown"


def torch_lstm_kernel(runner, x) -> str:
    """Profile one untimed forward pass of a TorchRunner and name the LSTM op it ran."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if runner.device == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof, torch.no_grad():
        runner.call(x)
    seen = {event.name for event in prof.events()}
    for op, meaning in _TORCH_LSTM_OPS:
        if op in seen:
            return meaning
    return "no ATen LSTM op seen (" + ("compiled graph" if runner.compiled else "unknown") + ")"
