"""ONNX Runtime as a third runtime: its process-wide part (OnnxFramework) and its per-model part (OnnxRunner).

An OnnxRunner holds a source runner (Keras or torch, built on the CPU through
the registry), which the harness gives the reference weights; `export()` then
writes the source model to ONNX with its framework's own exporter
(impls/onnx_export.py) into a temporary directory, and opens an
InferenceSession on it with the suite's thread count (OnnxFramework.threads(),
set by bench/suite/runtime.py configure). The head names the source:
"keras-timedistributed", "torch-broadcast", or "keras"/"torch" for topologies
without a per-step head.

ONNX Runtime only infers: there is no train step.
"""

from __future__ import annotations

from collections import Counter

import importlib.util
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .contract import make_runner, package_version
from .runtime_base import DEVICES, FrameworkBase, check_choice
from .onnx_export import OnnxExportError, exporter_name, export_keras, export_torch, graph_counts
from .spec import DEFAULT_KERAS_HEAD, DEFAULT_TORCH_HEAD, HEADS, ModelSpec

SOURCES = ("keras", "torch")
# The pip extra `onnx` (pyproject.toml): the runtime, the model format, and both exporters' back ends.
EXTRA_MODULES = ("onnx", "onnxruntime", "onnxscript", "tf2onnx")
# ORT_ENABLE_ALL is ONNX Runtime's default: every graph rewrite, layout changes included.
GRAPH_OPT = "ORT_ENABLE_ALL"
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


class OnnxModelError(ValueError):
    """An .onnx file ONNX Runtime cannot load, or one that does not fit the spec."""


def split_head(head: str) -> tuple[str, str]:
    """"keras-dense3d" -> ("keras", "dense3d"); "torch" -> ("torch", the default torch head)."""
    source, _, source_head = head.partition("-")
    if source not in SOURCES:
        raise ValueError(f"onnxruntime head must start with one of {', '.join(SOURCES)}; got {head!r}")
    if not source_head:
        source_head = DEFAULT_KERAS_HEAD if source == "keras" else DEFAULT_TORCH_HEAD
    if source_head not in HEADS[source]:
        raise ValueError(f"onnxruntime head {head!r}: {source} head must be one of {', '.join(HEADS[source])}")
    return source, source_head


def open_session(path: Path, name: str, exporter: str, device: str, threads: int, optimized_path: Path | None = None):
    """An InferenceSession on `path` with pinned threads; OnnxModelError in one line if it cannot load."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = threads  # used only by ORT_PARALLEL; set so no pool exceeds the suite's
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_OPT)
    options.log_severity_level = 3  # errors only
    # ORT's pool threads spin after each run by default, taking cores from whatever the process
    # times next (the torch and Keras cases of the same run); the suite's runtimes must not overlap.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)  # the graph after ORT's rewrites, for counting
    providers = [PROVIDERS[device]] + ([PROVIDERS["cpu"]] if device == "cuda" else [])
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OnnxModelError(f"{path}: ONNX Runtime cannot load {name} (exported by {exporter}): {first}") from e
    if session.get_providers()[0] != PROVIDERS[device]:
        raise OnnxModelError(f"{path}: {name} does not run on {PROVIDERS[device]} (got {session.get_providers()})")
    return session


def check_signature(session, spec: ModelSpec, batch: int, path: Path, name: str) -> None:
    """Refuse a session whose one input and first output do not have the spec's shapes (a wrong .onnx)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if len(inputs) != 1:
        problems.append(f"{len(inputs)} inputs, the model has 1")
    for what, arg, want in (("input", inputs[0], spec.input_shape(batch)), ("output", outputs[0], spec.output_shape(batch))):
        shape = list(arg.shape)
        fits = len(shape) == len(want) and all(not isinstance(d, int) or d == w for d, w in zip(shape, want))
        if not fits:
            problems.append(f"{what} shape {shape}, the {spec.topology} spec's is {list(want)}")
    if inputs and inputs[0].type not in NUMPY_TYPES:
        problems.append(f"input type {inputs[0].type} is not one this suite feeds")
    if problems:
        raise OnnxModelError(f"{path}: {name} does not fit: " + "; ".join(problems))


class OnnxFramework(FrameworkBase):
    """ONNX Runtime's process-wide operations; its thread pools are per session, sized by `threads()`."""

    framework = "onnxruntime"

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            return f"ONNX cases need the onnx extra (pip install -e '.[onnx]'); missing: {', '.join(missing)}"
        if device == "cuda":
            import onnxruntime as ort

            providers = ort.get_available_providers()
            if PROVIDERS["cuda"] not in providers:
                return f"no CUDAExecutionProvider in ONNX Runtime (providers: {', '.join(providers)})"
        return None

    @classmethod
    def full_float32(cls, device: str) -> None:
        """Nothing set: the CUDA provider runs with its default options (as the suite always has)."""

    @classmethod
    def reset_compiled(cls) -> None:
        """Nothing to forget: each session optimises its own graph once, in `load`."""

    @classmethod
    def release_compile_caches(cls) -> None:
        """Nothing grows per call: a session's graph is optimised once."""

    @classmethod
    def use_compile_cache(cls, directory: str) -> dict:
        """No persistent cache: each session optimises its graph when it is made."""
        return {}

    @classmethod
    def compile_cache_events(cls) -> Counter:
        return Counter()

    @classmethod
    @contextmanager
    def gemm(cls, device: str, n: int):
        """One ONNX MatMul node in a session with the suite's threads."""
        import onnx
        from onnx import TensorProto, helper

        io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "abc"]
        graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak", io[:2], io[2:])
        rng = np.random.default_rng(0)
        a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
        with tempfile.TemporaryDirectory(prefix="tdbench-onnx-") as directory:
            path = Path(directory) / "matmul.onnx"
            onnx.save(helper.make_model(graph), str(path))
            session = open_session(path, "peak MatMul", "onnx.helper", device, cls.threads())
            yield lambda: session.run(None, {"a": a, "b": b})

    @classmethod
    def count_params(cls, model, layer: str | None = None, trainable_only: bool = False) -> int:
        raise NotImplementedError("an ONNX graph holds constants, not parameters: count its source model's")

    @classmethod
    def versions(cls, keras_backend: str) -> dict:
        version = package_version("onnxruntime")
        return dict(framework_version=version, backend_version=version)

    @classmethod
    def gpu_name(cls) -> str | None:
        """ONNX Runtime names providers, not devices."""
        return None

    @classmethod
    def memory_probe(cls, device: str):
        if device == "cpu":
            return None
        raise NotImplementedError("ONNX Runtime's GPU arena is not read yet (bench/commands/memory.py MEASURED_FRAMEWORKS)")

    @classmethod
    def set_threads(cls, threads: int) -> None:
        """Nothing process-wide: each session takes `threads()` in open_session."""

    @classmethod
    def thread_pools(cls) -> dict:
        return {}  # per session, not per process


class OnnxRunner:
    """An ONNX Runtime session on a model exported from Keras or torch."""

    framework = "onnxruntime"
    backend = "onnxruntime"
    compiled = compile_requested = False

    def __init__(self, spec: ModelSpec, head: str, device: str = "cpu", compile: bool = False,
                 threads: int | None = None, seed: int = 0, **source_options):
        if compile:
            raise ValueError("onnxruntime has no compile switch: its graph optimiser always runs (ORT_ENABLE_ALL)")
        self.spec, self.head, self.device = spec, head, check_choice("device", device, DEVICES)
        self.source_framework, source_head = split_head(head)
        self.threads = OnnxFramework.threads() if threads is None else threads
        # Exported from the CPU: the export is a file; ORT places it on `device`.
        self.source = make_runner(self.source_framework, spec, source_head, device="cpu", seed=seed, **source_options)
        self.name = f"{spec.topology} {head}"
        self.exporter = exporter_name(self.source_framework, getattr(self.source, "backend", None))
        self.session = None
        self.counts: dict = {}
        self._dir = tempfile.TemporaryDirectory(prefix="tdbench-onnx-")  # removed with the runner

    @property
    def compiler(self) -> str:
        return f"onnxruntime {GRAPH_OPT}"

    def export(self, x: np.ndarray) -> "OnnxRunner":
        """Export the source model (holding its final weights) for host batch `x`, then open the session."""
        directory = Path(self._dir.name)
        path, optimized = directory / "model.onnx", directory / "model.ort-optimized.onnx"
        if self.source_framework == "keras":
            self.exporter = export_keras(self.source.model, x, path, self.name)
        else:
            self.exporter = export_torch(self.source.model, self.source.put(x)[0], path, self.name)
        self.load(path, len(x), optimized)
        return self

    def load(self, path: Path, batch: int, optimized_path: Path | None = None) -> None:
        """Open `path` (an export, or a file a user hands in) and check it fits the spec."""
        path = Path(path)
        self.session = open_session(path, self.name, self.exporter, self.device, self.threads, optimized_path)
        check_signature(self.session, self.spec, batch, path, self.name)
        self._input = self.session.get_inputs()[0]
        self._output = self.session.get_outputs()[0].name
        exported = graph_counts(path)
        self.counts = dict(onnx_nodes=exported["nodes"], onnx_matmuls=exported["matmuls"],
                           onnx_lstm="LSTM" in exported["ops"])
        if optimized_path is not None and optimized_path.exists():
            optimized = graph_counts(optimized_path)
            self.counts.update(ort_nodes=optimized["nodes"], ort_matmuls=optimized["matmuls"])

    def row_extras(self) -> dict:
        """The columns only an exported case fills (bench/store/schema.py ONNX_COLUMNS)."""
        return dict(exporter=self.exporter, graph_opt=GRAPH_OPT, onnx_nodes=self.counts.get("onnx_nodes"),
                    onnx_matmuls=self.counts.get("onnx_matmuls"), ort_nodes=self.counts.get("ort_nodes"),
                    ort_matmuls=self.counts.get("ort_matmuls"))

    def trainable_params(self) -> int:
        return self.source.trainable_params()  # the same weights, frozen into the graph

    def load_reference(self, keras_model, weights: list) -> None:
        """Into the source model: `export` then freezes them into the graph."""
        self.source.load_reference(keras_model, weights)

    def keras_weights(self, scratch) -> list:
        return self.source.keras_weights(scratch)

    def put(self, x, y=None):
        """Check shapes; cast to the graph's input type (torch exports nn.Embedding's ids as int64)."""
        self.spec.check_batch(x, y)
        x = np.ascontiguousarray(x, dtype=NUMPY_TYPES[self._input.type])
        if self.device == "cuda":  # on the device before timing, through an IO binding
            import onnxruntime as ort

            self._binding = self.session.io_binding()
            self._binding.bind_ortvalue_input(self._input.name, ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
            self._binding.bind_output(self._output, "cuda")
        return x, y

    def train_step(self, x, y) -> float:
        raise NotImplementedError("ONNX Runtime cases are inference only")

    def gradients(self, x, y) -> dict:
        raise NotImplementedError("ONNX Runtime cases are inference only: an exported graph has no gradients")

    def infer(self, x) -> np.ndarray:
        """One session run; returns NumPy on the host, as the Keras and torch arms do."""
        if self.device == "cuda":
            self.session.run_with_iobinding(self._binding)
            return self._binding.copy_outputs_to_cpu()[0]
        return self.session.run([self._output], {self._input.name: x})[0]

    def forward(self, x) -> np.ndarray:
        return self.to_numpy(self.infer(x))  # ORT has one path: the optimised graph

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(value.numpy() if hasattr(value, "numpy") else value)

    def sync(self) -> None:
        """Nothing to wait for: infer returns a host array."""

    def compile_count(self) -> int:
        """The session was built and optimised once, in `load`; runs never rebuild it."""
        return 0

    def graph_breaks(self) -> Counter:
        return Counter()

    def kernel(self, x=None) -> str:
        lstm = "ONNX LSTM op" if self.counts.get("onnx_lstm") else "no ONNX LSTM op (unrolled)"
        return (f"{PROVIDERS[self.device]}, {GRAPH_OPT}, {self.threads} threads; {lstm}; "
                f"exported by {self.exporter}")


__all__ = ["OnnxFramework", "OnnxRunner", "OnnxModelError", "OnnxExportError", "split_head"]
