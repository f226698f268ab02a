"""The seed's models in PyTorch: one nn.Module per topology, batch-first."""

from __future__ import annotations

import torch
from torch import nn

from .spec import DEFAULT_TORCH_HEAD, ModelSpec, check_head

TORCH_BIASES = ("keras", "native")


class PerTimestep(nn.Module):
    """A Linear (and its activation) applied at every timestep of (batch, time, features).

    `loop` calls the Linear once per step, as Keras's TimeDistributed does;
    `broadcast` calls it once on the whole 3-D tensor. Same weights, same numbers.
    """

    def __init__(self, in_features, out_features, head, activation=None):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.head = check_head("torch", head)
        self.activation = activation

    def _step(self, x):
        y = self.linear(x)
        return self.activation(y) if self.activation is not None else y

    def forward(self, x):
        if self.head == "loop":
            return torch.stack([self._step(x[:, t]) for t in range(x.shape[1])], dim=1)
        return self._step(x)


class LastStepModel(nn.Module):
    """one_to_one and many_to_one: LSTM, then Linear on the last hidden state."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.lstm = nn.LSTM(spec.features, spec.units, batch_first=True)
        self.head = nn.Linear(spec.units, spec.outputs)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])


class SequenceModel(nn.Module):
    """many_to_many: LSTM returning every step, then the per-timestep head."""

    def __init__(self, spec: ModelSpec, head: str):
        super().__init__()
        self.lstm = nn.LSTM(spec.features, spec.units, batch_first=True)
        self.head = PerTimestep(spec.units, spec.outputs, head)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.head(h)


class RepeatVector(nn.Module):
    """(batch, features) -> (batch, timesteps, features), Keras's RepeatVector: no weights.

    `expand` is a view (stride 0 on the time axis); nn.LSTM makes its own
    contiguous copy where its kernel needs one.
    """

    def __init__(self, timesteps: int):
        super().__init__()
        self.timesteps = timesteps

    def forward(self, x):
        return x.unsqueeze(1).expand(-1, self.timesteps, -1)


class OneToManyModel(SequenceModel):
    """one_to_many: one input vector repeated along time, LSTM, the per-timestep head."""

    def __init__(self, spec: ModelSpec, head: str):
        super().__init__(spec, head)
        self.repeat = RepeatVector(spec.timesteps)

    def forward(self, x):
        return super().forward(self.repeat(x))


class AttentionTagger(nn.Module):
    """Embedding, BiLSTM, unscaled dot-product self-attention, two per-timestep heads."""

    def __init__(self, spec: ModelSpec, head: str):
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, spec.embedding_dim)
        self.lstm = nn.LSTM(spec.embedding_dim, spec.units, batch_first=True, bidirectional=True)
        self.hidden = PerTimestep(4 * spec.units, spec.dense_units, head, torch.relu)
        self.head = PerTimestep(spec.dense_units, spec.outputs, head, _softmax_last)

    def forward(self, tokens):
        h, _ = self.lstm(self.embedding(tokens))  # (batch, time, 2*units), directions concatenated
        weights = torch.softmax(h @ h.transpose(1, 2), dim=-1)  # over the key axis
        context = weights @ h
        return self.head(self.hidden(torch.cat([h, context], dim=2)))


def _softmax_last(x):
    return torch.softmax(x, dim=-1)


def build_torch(
    spec: ModelSpec, head: str = DEFAULT_TORCH_HEAD, torch_bias: str = "keras", seed: int = 0
) -> nn.Module:
    """Build the PyTorch model for `spec`.

    `torch_bias="keras"` freezes every LSTM `bias_hh` at zero, so the trainable
    parameters (and the training trajectory) are Keras's. `"native"` keeps
    torch's two trainable bias vectors.
    """
    check_head("torch", head)
    if torch_bias not in TORCH_BIASES:
        raise ValueError(
            f"torch_bias must be one of {', '.join(TORCH_BIASES)}; got {torch_bias!r}"
        )
    with torch.random.fork_rng(devices=[]):  # seeded init without touching global RNG state
        torch.manual_seed(seed)
        if spec.topology == "attention":
            model = AttentionTagger(spec, head)
        elif spec.topology == "many_to_many":
            model = SequenceModel(spec, head)
        elif spec.topology == "one_to_many":
            model = OneToManyModel(spec, head)
        else:
            model = LastStepModel(spec)
    model.spec = spec  # the weight bridge reads the layer list from it
    if torch_bias == "keras":
        freeze_recurrent_bias(model)
    return model


def freeze_recurrent_bias(model: nn.Module) -> None:
    """Zero and freeze each LSTM's `bias_hh*`: Keras has one bias where torch has two."""
    for module in model.modules():
        if isinstance(module, nn.LSTM):
            for name, param in module.named_parameters():
                if name.startswith("bias_hh"):
                    with torch.no_grad():
                        param.zero_()
                    param.requires_grad_(False)


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
