"""The one registry of benchmark cases: profiles of sizes, and every case they expand to.

The pytest suite, `python -m bench` and the tests all read cases from here.
Nothing in this module imports a framework.
"""

from __future__ import annotations

from dataclasses import dataclass

from impls import SEED_BATCH, TOPOLOGIES, ModelSpec
from impls.spec import DEFAULT_KERAS_HEAD, DEFAULT_TORCH_HEAD, HEADS

from ..store.schema import MODES, NO_HEAD

PROFILES = ("seed", "quick", "full", "tdtax")
DEVICES = ("cpu", "cuda")
FRAMEWORKS = ("keras", "torch", "onnxruntime")
# ONNX Runtime runs models exported from these; its head names the source ("keras-timedistributed").
ORT = "onnxruntime"
ORT_SOURCES = ("keras", "torch")
# Profiles that run every exported head; the others run each framework's default head
# only, which keeps the default (quick) run within its time (an export costs 0.2 to 3 s).
ORT_ALL_HEADS_PROFILES = ("full", "tdtax")
COMPILE_CHOICES = ("off", "on", "both")

# The quick profile's mid size: batch 32, 50 steps of 16 features, 64 units.
MID_BATCH = 32
MID_SIZES = {
    "one_to_one": dict(features=16, units=64),
    "many_to_one": dict(timesteps=50, features=16, units=64),
    "many_to_many": dict(timesteps=50, features=16, units=64),
    "attention": dict(timesteps=50, vocab_size=1000, embedding_dim=32, units=64, dense_units=64, outputs=20),
    "one_to_many": dict(timesteps=50, features=16, units=64),  # 16 features in, 50 steps out
}
# The full profile sweeps one size at a time around the mid size (each >= 16x wide).
SWEEPS = {
    "batch": (4, 16, 32, 64, 256),
    "timesteps": (10, 25, 50, 100, 200),
    "units": (16, 32, 64, 128, 256),
}
# The tdtax profile: the LSTM topologies with a per-timestep head at the mid size,
# looped vs fused head, over time.
TD_TAX_TOPOLOGIES = ("many_to_many", "one_to_many")
TD_TAX_TIMESTEPS = (5, 20, 50, 100, 200)


@dataclass(frozen=True)
class Size:
    label: str  # "seed", "mid", or the swept value ("batch=256")
    spec: ModelSpec
    batch: int


@dataclass(frozen=True)
class Case:
    size: Size
    framework: str
    head: str
    mode: str
    device: str
    compile: str  # "off" or "on"

    @property
    def topology(self) -> str:
        return self.size.spec.topology

    @property
    def spec(self) -> ModelSpec:
        return self.size.spec

    @property
    def id(self) -> str:
        head = [] if self.head == NO_HEAD else [self.head]
        parts = [self.topology, self.framework, *head, self.mode, self.device]
        if self.compile == "on":
            parts.append("jit")
        return "-".join(parts + [self.size.label.replace("=", "")])

    @property
    def group(self) -> str:
        """pytest-benchmark group: every framework/head/compile row of one problem, together."""
        return f"{self.topology} {self.mode} {self.device} {self.size.label} b{self.size.batch}"

    @property
    def parity_against(self) -> str:
        """The framework whose output this case must match: the other one, or an export's source."""
        if self.framework == ORT:
            return self.head.split("-")[0]
        return "torch" if self.framework == "keras" else "keras"

    @property
    def build_head(self) -> str:
        """The head to build with (topologies without per-step head ignore it)."""
        return self.head if self.head != NO_HEAD else HEADS[self.framework][0]


def _mid(topology: str) -> ModelSpec:
    return ModelSpec.seed(topology).replace(**MID_SIZES[topology])


def profile_sizes(profile: str, topology: str) -> list[Size]:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    if profile == "tdtax":
        if topology not in TD_TAX_TOPOLOGIES:
            return []
        return [Size(f"timesteps={t}", _mid(topology).replace(timesteps=t), MID_BATCH) for t in TD_TAX_TIMESTEPS]
    sizes = [Size("seed", ModelSpec.seed(topology), SEED_BATCH[topology])]
    if profile in ("quick", "full"):
        sizes.append(Size("mid", _mid(topology), MID_BATCH))
    if profile == "full":
        seen = {(s.spec, s.batch) for s in sizes}
        for field, values in SWEEPS.items():
            if field == "timesteps" and topology == "one_to_one":
                continue  # one input step by definition
            for value in values:
                spec, batch = _mid(topology), MID_BATCH
                if field == "batch":
                    batch = value
                else:
                    spec = spec.replace(**{field: value})
                if (spec, batch) not in seen:
                    seen.add((spec, batch))
                    sizes.append(Size(f"{field}={value}", spec, batch))
    return sizes


def heads(framework: str, topology: str, profile: str = "full") -> tuple[str, ...]:
    spec = ModelSpec.seed(topology)
    if framework == ORT:
        if not spec.has_sequence_head:
            return ORT_SOURCES
        if profile in ORT_ALL_HEADS_PROFILES:
            return tuple(f"{source}-{head}" for source in ORT_SOURCES for head in HEADS[source])
        return (f"keras-{DEFAULT_KERAS_HEAD}", f"torch-{DEFAULT_TORCH_HEAD}")
    return HEADS[framework] if spec.has_sequence_head else (NO_HEAD,)


def _runs(framework: str, mode: str, compile: str) -> bool:
    """ONNX Runtime only infers, and has no compile switch (its graph optimiser always runs)."""
    return framework != ORT or (mode == "infer" and compile == "off")


def compile_settings(choice: str) -> tuple[str, ...]:
    if choice not in COMPILE_CHOICES:
        raise ValueError(f"--compile must be one of {', '.join(COMPILE_CHOICES)}; got {choice!r}")
    return ("off", "on") if choice == "both" else (choice,)


def all_cases(
    profile: str = "quick",
    compile: str = "off",
    topologies=TOPOLOGIES,
    devices=DEVICES,
    frameworks=FRAMEWORKS,
    modes=MODES,
) -> list[Case]:
    return [
        Case(size, framework, head, mode, device, comp)
        for topology in topologies
        for size in profile_sizes(profile, topology)
        for mode in modes
        for device in devices
        for framework in frameworks
        for head in heads(framework, topology, profile)
        for comp in compile_settings(compile)
        if _runs(framework, mode, comp)
    ]
