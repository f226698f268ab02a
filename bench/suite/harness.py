"""What happens to one benchmark case before and after pytest-benchmark times it.

1. The problem's reference: seeded weights (from a Keras build), a batch on
   the host, each framework's output on those weights, and each framework's
   loss and weights after one SGD step of learning rate 1 (References).
2. The case's runner is built with the reference weights, its data put on
   the device, and its output checked against the *other* framework's; a
   pair is timed only if they agree (check_parity).
3. The first call (tracing, compilation) is timed on its own; a few more
   untimed calls warm up, counting the compilations they trigger.
4. Train cases pass a gate: the very step function that will be timed (same
   class, head and compile setting), given plain SGD with learning rate 1,
   takes one step from the reference weights; its loss and its updated
   weights (reference minus gradient) must match the other framework's
   (check_train_gate). Then the caller hands `call` to pytest-benchmark.
5. The statistics become one row of results/benchmarks.csv (case_row, measured_row).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from impls.compile_cache import state as cache_state
from impls.compile_events import summarise_breaks
from impls.contract import framework_class, framework_classes, make_runner, runner_class
from impls.spec import SIZE_FIELDS

from .cases import Case
from ..analysis.flops import case_flops
from ..analysis.tolerances import LOSS_TOLERANCE, PARITY_TOLERANCE
from impls.onnx_export import OnnxExportError
from .environment import today
from ..store.schema import BENCHMARK_COLUMNS

WARMUP_CALLS = 3
DATA_SEED = 0
# SGD with learning rate 1: the updated weights are reference weights minus the
# gradient, so comparing them compares gradients at full float32 precision.
GATE_OPTIMIZER = dict(optimizer="sgd", learning_rate=1.0)


class ParityError(AssertionError):
    pass


class CouldNotRun(Exception):
    """A compile path that cannot run this model; the row records why."""


def device_unavailable(framework: str, device: str) -> str | None:
    """Why `framework` cannot use `device` here, or None if it can."""
    return framework_class(framework).unavailable(device)


def use_full_float32(device: str) -> None:
    """TF32 off everywhere, so GPU outputs can be compared at float32 precision.

    Every runtime, not only the case's: a case's reference holds both Keras's and torch's outputs.
    """
    for framework in framework_classes():
        framework.full_float32(device)


@dataclass
class Reference:
    """One problem (topology, sizes, device): weights, a batch, both frameworks' results."""

    keras_model: object
    weights: list
    x: np.ndarray
    y: np.ndarray
    outputs: dict = field(default_factory=dict)  # framework -> np.ndarray
    losses: dict = field(default_factory=dict)  # framework -> loss at the reference weights
    stepped: dict = field(default_factory=dict)  # framework -> weights after one gate step (Keras layout)
    gate_steps: dict = field(default_factory=dict)  # framework -> gate_step_key of the runner that took its step
    scratch: object = None  # a Keras model of the same shape, to read torch weights in Keras layout

    def keras_layout(self, runner) -> list:
        """The runner's weights as a list in Keras's `get_weights()` order."""
        return runner.keras_weights(self.scratch)


class References:
    """Built once per problem and shared by all of its cases."""

    def __init__(self):
        self._cache = {}

    def get(self, case: Case) -> Reference:
        key = (case.spec, case.size.batch, case.device)
        if key not in self._cache:
            self._cache[key] = self._build(case)
        return self._cache[key]

    @staticmethod
    def _build(case: Case) -> Reference:
        KerasRunner, TorchRunner = runner_class("keras"), runner_class("torch")
        spec, batch = case.spec, case.size.batch
        x, y = spec.example_inputs(batch, DATA_SEED), spec.example_targets(batch, DATA_SEED)
        keras_runner = KerasRunner(spec, device=case.device, seed=DATA_SEED)
        torch_runner = TorchRunner(spec, device=case.device)
        weights = keras_runner.model.get_weights()
        torch_runner.load_reference(keras_runner.model, weights)
        reference = Reference(
            keras_model=keras_runner.model,
            weights=weights,
            x=x,
            y=y,
            outputs={
                "keras": keras_runner.forward(keras_runner.put(x)[0]),
                "torch": torch_runner.forward(torch_runner.put(x)[0]),
            },
        )
        # One eager gate step per framework: what every train case's step must reproduce.
        keras_gate = KerasRunner(spec, device=case.device, **GATE_OPTIMIZER)
        torch_gate = TorchRunner(spec, device=case.device, **GATE_OPTIMIZER)
        reference.scratch = keras_gate.model
        for framework, runner in (("keras", keras_gate), ("torch", torch_gate)):
            load_reference_weights(runner, reference)
            reference.losses[framework] = runner.train_step(*runner.put(x, y))
            reference.stepped[framework] = reference.keras_layout(runner)
            reference.gate_steps[framework] = gate_step_key(spec, runner.head, runner.compile_requested)
        return reference


def gate_step_key(spec, head: str, compiled: bool) -> tuple:
    """What makes two runners of one framework take the same gate step from the same weights and batch:
    the head (where the topology has a per-step head; elsewhere the builders ignore it) and the compile setting."""
    return (head if spec.has_sequence_head else None, bool(compiled))


def load_reference_weights(runner, reference: Reference) -> None:
    runner.load_reference(reference.keras_model, reference.weights)


def build_runner(case: Case, reference: Reference, **options):
    """The case's runner, holding the reference weights (an ONNX Runtime case: exported with them)."""
    runner = make_runner(
        case.framework, case.spec, case.build_head, device=case.device,
        compile=case.compile == "on", **options,
    )
    load_reference_weights(runner, reference)
    if case.framework == "onnxruntime":
        try:
            runner.export(reference.x)
        except OnnxExportError as e:  # this exporter cannot take this model (or backend): the row says why
            raise CouldNotRun(str(e)) from e
    return runner


def _other(case: Case) -> str:
    return case.parity_against


def check_parity(case: Case, reference: Reference, output) -> float:
    """Max |this output - the other framework's|; raises ParityError past the tolerance."""
    other = _other(case)
    diff = float(np.max(np.abs(np.asarray(output, np.float64) - reference.outputs[other])))
    return _at_most(diff, PARITY_TOLERANCE[case.device],
                    f"{case.id}: output differs from {other}'s on the same weights and inputs by",
                    "not timing a pair that is not one model")


def check_loss(case: Case, reference: Reference, loss: float) -> float:
    """|loss - the other framework's| / |the other's|; raises ParityError past the tolerance."""
    other = reference.losses[_other(case)]
    diff = abs(float(loss) - other) / max(abs(other), np.finfo(np.float32).tiny)
    return _at_most(diff, LOSS_TOLERANCE[case.device],
                    f"{case.id}: train step's loss {loss:.8g} differs from {_other(case)}'s {other:.8g} by",
                    "not timing a step that is not the same step", unit=" relative")


def _at_most(diff: float, tolerance: float, what: str, consequence: str, unit: str = "") -> float:
    """`diff`, or ParityError: "`what` DIFF`unit` (tolerance T); `consequence`"."""
    if not diff <= tolerance:
        raise ParityError(f"{what} {diff:.3g}{unit} (tolerance {tolerance:g}); {consequence}")
    return diff


def check_train_gate(case: Case, reference: Reference, x, y) -> tuple[float, float]:
    """One step of the case's own step function (plain SGD, learning rate 1) from the reference.

    Returns (relative loss difference, max |updated weight difference|) against
    the other framework; raises ParityError past either tolerance.

    A case whose step function is the one the reference already stepped
    (same framework, head and compile setting: its default head, not
    compiled) takes its result from the reference instead of building the
    same runner again and taking the same step: a Keras build and a traced
    train step saved per train problem.
    """
    if reference.gate_steps.get(case.framework) == gate_step_key(case.spec, case.build_head, case.compile == "on"):
        loss, mine = reference.losses[case.framework], reference.stepped[case.framework]
    else:
        runner = build_runner(case, reference, **GATE_OPTIMIZER)
        loss, mine = runner.train_step(x, y), reference.keras_layout(runner)
    loss_diff = check_loss(case, reference, loss)
    theirs = reference.stepped[_other(case)]
    diff = max(float(np.max(np.abs(np.asarray(a, np.float64) - b))) for a, b in zip(mine, theirs))
    tolerance = PARITY_TOLERANCE[case.device]
    if not diff <= tolerance:
        raise ParityError(
            f"{case.id}: weights after one SGD step (lr 1) differ from {_other(case)}'s by {diff:.3g} "
            f"(tolerance {tolerance:g}): the gradients are not the same; not timing this step"
        )
    return loss_diff, diff


@dataclass
class Prepared:
    runner: object
    call: object  # the function pytest-benchmark times
    first_call_s: float
    max_abs_diff: float
    kernel: str
    compiles_per_call: float | None = None  # compilations per timed call (should be 0), set by run_counted
    timed_calls: int = 0  # calls and compilations inside every run_counted so far (all blocks)
    timed_compiles: int = 0
    graph_breaks: str = ""  # torch.compile's graph breaks during the first call
    loss_rel_diff: float | None = None  # train cases: the gate's loss difference
    compile_cache: str = ""  # the first call's persistent compile cache: cold, warm, ... ("" when off)


def forget_compiled_graphs(case: Case) -> None:
    """Drop torch.compile's in-process graphs before a compiled problem starts, whichever framework leads it.

    Dynamo keys compiled graphs by code object, not by model: without this, a
    case reuses the graph an earlier case of the same class compiled (its
    first call looks free), and after two sizes it switches to a dynamic-shape
    graph. Each case should compile, and run, what a fresh process would. The
    torch case of a problem is not its first (Keras leads), so the reset is
    done for torch whatever framework the problem's first case is.
    """
    if case.compile == "on":
        framework_class(case.framework).reset_compiled()
        if case.framework != "torch":
            framework_class("torch").reset_compiled()


def prepare(case: Case, reference: Reference, forget_graphs: bool = True) -> Prepared:
    """Build, prove, compile and warm up one case; raises ParityError if it is not the same model.

    forget_graphs=False keeps torch.compile's graphs of the cases prepared just
    before (the other cases of the same problem, whose blocks alternate with
    this case's, bench/suite/session.py): dropping them would recompile every block.
    """
    if forget_graphs:
        forget_compiled_graphs(case)
    runner = build_runner(case, reference)
    x, y = runner.put(reference.x, reference.y)
    diff = check_parity(case, reference, runner.forward(x))
    if case.mode == "train":
        call = lambda: runner.train_step(x, y)
    else:
        call = lambda: runner.infer(x)
    breaks_before = runner.graph_breaks()
    cache_before = framework_class(case.framework).compile_cache_events()  # empty unless --compile-cache
    start = time.perf_counter()
    try:
        result = call()  # tracing / compilation happen here, untimed by the benchmark
    except Exception as e:
        if case.compile == "on":
            raise CouldNotRun(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
        raise
    first_call_s = time.perf_counter() - start
    compile_cache = cache_state(cache_before, framework_class(case.framework).compile_cache_events(), compiled=case.compile == "on")
    graph_breaks = summarise_breaks(breaks_before, runner.graph_breaks())
    for _ in range(WARMUP_CALLS):
        call()
    loss_rel_diff = None
    if case.mode == "infer":  # the compiled path's own output must agree too
        diff = max(diff, check_parity(case, reference, result))
    else:  # the first step's loss came from the timed step function, before any update
        loss_rel_diff = check_loss(case, reference, result)
        gate_loss_diff, gate_diff = check_train_gate(case, reference, x, y)
        loss_rel_diff, diff = max(loss_rel_diff, gate_loss_diff), max(diff, gate_diff)
    return Prepared(
        runner, CountedCall(call), first_call_s, diff, runner.kernel(x),
        graph_breaks=graph_breaks, loss_rel_diff=loss_rel_diff, compile_cache=compile_cache,
    )


class CountedCall:
    """The timed function, counting its calls (a Python increment: ~50 ns against >= 10 us calls)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self):
        self.calls += 1
        return self.fn()


def run_counted(prepared: Prepared, run) -> None:
    """`run(prepared.call)` (pytest-benchmark's loop), counting the compilations inside it (over all blocks)."""
    compiled, calls = prepared.runner.compile_count(), prepared.call.calls
    run(prepared.call)
    prepared.timed_calls += prepared.call.calls - calls
    prepared.timed_compiles += prepared.runner.compile_count() - compiled
    if prepared.timed_calls:
        prepared.compiles_per_call = prepared.timed_compiles / prepared.timed_calls


def compiler_label(prepared: Prepared) -> str:
    """The runner's compiler, and what was measured: compiling inside the timed calls is said."""
    label, n = prepared.runner.compiler, prepared.compiles_per_call
    if n and n >= 1:
        label += f", recompiles every call ({n:g} compilations per call)"
    elif n:
        label += f", recompiled during the timed calls ({n:.2g} compilations per call)"
    return label


def case_row(case: Case, profile: str, keras_backend: str, threads: int) -> dict:
    """The columns every row of the case carries, measured or not."""
    spec = case.spec
    backend = keras_backend if case.framework == "keras" else case.framework
    row = dict.fromkeys(BENCHMARK_COLUMNS)
    row.update(
        topology=case.topology, framework=case.framework, backend=backend,
        keras_backend=keras_backend, head=case.head, compile=case.compile, mode=case.mode,
        device=case.device, profile=profile, size=case.size.label, batch=case.size.batch,
        threads=threads, **framework_class(case.framework).versions(keras_backend), date=today(),
        **{name: getattr(spec, name) if name in spec.used_fields() else None for name in SIZE_FIELDS},
    )
    return row


def measured_row(row: dict, case: Case, prepared: Prepared, stats, peak_gflops: float | None) -> dict:
    """Fill in a row from pytest-benchmark's statistics (seconds per call)."""
    runner = prepared.runner
    params = runner.trainable_params()
    flops = case_flops(case.spec, case.size.batch, case.mode, params)
    gflops = flops / stats.median / 1e9
    row.update(
        compiler=compiler_label(prepared), params=params, rounds=stats.rounds,
        median_s=stats.median, iqr_s=stats.iqr, min_s=stats.min, mean_s=stats.mean,
        stddev_s=stats.stddev, spread=stats.iqr / stats.median,
        first_call_s=prepared.first_call_s, samples_per_s=case.size.batch / stats.median,
        flops=flops, gflops=gflops, peak_gflops=peak_gflops,
        peak_fraction=None if not peak_gflops else gflops / peak_gflops,
        max_abs_diff=prepared.max_abs_diff, loss_rel_diff=prepared.loss_rel_diff,
        compiles_per_call=prepared.compiles_per_call, graph_breaks=prepared.graph_breaks,
        kernel=prepared.kernel, status="ok", compile_cache=prepared.compile_cache or None,
    )
    row.update(runner.row_extras())  # an exported case's exporter and graph counts
    return row
