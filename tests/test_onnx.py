"""ONNX Runtime as a third runtime: cases, export and parity, bad .onnx files, derived ratios."""

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bench.suite import harness
from bench.suite.cases import all_cases
from bench.suite.harness import CouldNotRun, References, prepare
from bench.analysis.derived import onnx_ratio_rows, td_tax_rows
from bench.store.schema import ONNX_COLUMNS, REQUIRED_BENCHMARK_COLUMNS
from bench.store.results import load_benchmarks
from bench.store.files import write_csv
from tests.helpers import benchmark_row

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="the onnx extra is not installed"
)


def ort_case(case_id, profile="full"):
    (case,) = [c for c in all_cases(profile, devices=("cpu",)) if c.id == case_id]
    return case


@pytest.fixture(scope="module")
def references():
    return References()


def test_ort_cases_infer_only_default_heads_in_quick_all_heads_in_tdtax():
    quick = [c for c in all_cases("quick", "both") if c.framework == "onnxruntime"]
    assert {c.mode for c in quick} == {"infer"} and {c.compile for c in quick} == {"off"}
    assert {c.head for c in quick if c.topology == "many_to_many"} == {"keras-timedistributed", "torch-broadcast"}
    assert {c.head for c in quick if c.topology == "one_to_one"} == {"keras", "torch"}
    tdtax = {c.head for c in all_cases("tdtax") if c.framework == "onnxruntime"}
    assert tdtax == {"keras-timedistributed", "keras-dense3d", "torch-loop", "torch-broadcast"}
    assert ort_case("many_to_many-onnxruntime-torch-loop-infer-cpu-seed").parity_against == "torch"


@pytest.mark.parametrize("head, looped", [
    ("keras-timedistributed", True), ("keras-dense3d", False), ("torch-loop", True), ("torch-broadcast", False),
])
def test_every_head_exports_matches_its_source_and_counts_its_matmuls(references, head, looped):
    case = ort_case(f"many_to_many-onnxruntime-{head}-infer-cpu-seed")
    prepared = prepare(case, references.get(case))
    assert prepared.max_abs_diff <= 1e-5 and prepared.first_call_s > 0
    extras = prepared.runner.row_extras()
    assert set(extras) == set(ONNX_COLUMNS) and extras["graph_opt"] == "ORT_ENABLE_ALL"
    # A looped head exports one matmul per step (seed: 5 steps); a fused head, one for all steps.
    assert extras["onnx_matmuls"] == (case.spec.timesteps if looped else 1)
    assert extras["ort_nodes"] > 0 and extras["onnx_nodes"] > extras["onnx_matmuls"]
    assert "ONNX LSTM op" in prepared.kernel and prepared.runner.compiler == "onnxruntime ORT_ENABLE_ALL"
    assert np.asarray(prepared.call()).shape == (1, 5, 1)


def test_torch_exports_build_the_exporter_s_registry_once_and_write_the_same_graph(tmp_path):
    """impls/onnx_export.py reuses torch.onnx's ATen -> ONNX registry between exports: the graph written
    (nodes, weights, inputs, outputs) is the one an export with a registry of its own writes."""
    import onnx
    import torch
    from torch.onnx._internal.exporter import _registration

    from impls import ModelSpec, onnx_export
    from impls.contract import runner_class

    spec = ModelSpec.seed("attention")
    runner = runner_class("torch")(spec, "broadcast")
    x = runner.put(spec.example_inputs(2))[0]
    built, build = [], _registration.ONNXRegistry.from_torchlib
    for name in ("reused-1", "reused-2"):
        onnx_export.export_torch(runner.model, x, tmp_path / f"{name}.onnx", name)
    assert _registration.ONNXRegistry.from_torchlib == build  # put back after each export
    with torch.no_grad():
        torch.onnx.export(runner.model, (x,), str(tmp_path / "own.onnx"), dynamo=True, verbose=False)

    def graph(name):
        g = onnx.load(str(tmp_path / f"{name}.onnx")).graph
        return [str(g.node), [(t.name, t.raw_data) for t in g.initializer], str(g.input), str(g.output)]

    assert graph("reused-1") == graph("reused-2") == graph("own")
    monkey = pytest.MonkeyPatch()
    try:  # a third export takes the registry the first one built
        monkey.setattr(_registration.ONNXRegistry, "from_torchlib",
                       classmethod(lambda cls, **k: built.append(1) or build(**k)))
        onnx_export.export_torch(runner.model, x, tmp_path / "reused-3.onnx", "reused-3")
    finally:
        monkey.undo()
    assert built == [] and onnx_export._TORCHLIB_REGISTRIES


def test_token_ids_are_cast_to_the_exported_graphs_type(references):
    case = ort_case("attention-onnxruntime-torch-broadcast-infer-cpu-seed")
    prepared = prepare(case, references.get(case))
    assert prepared.runner._input.type == "tensor(int64)"  # torch exports nn.Embedding's ids as int64
    assert prepared.max_abs_diff <= 1e-5


def test_a_failing_export_is_a_row_naming_the_model_and_the_exporter(references, monkeypatch):
    import torch

    case = ort_case("many_to_one-onnxruntime-torch-infer-cpu-seed")
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no op\nmore")))
    with pytest.raises(CouldNotRun, match=r"^many_to_one torch: torch.onnx.export\(dynamo=True\) failed: RuntimeError: no op$"):
        harness.build_runner(case, references.get(case))


def test_a_corrupt_or_mismatched_onnx_file_is_a_one_line_error(references, tmp_path):
    from impls.contract import make_runner
    from impls.onnx_runtime import OnnxModelError

    case = ort_case("many_to_many-onnxruntime-torch-broadcast-infer-cpu-seed")
    runner = harness.build_runner(case, references.get(case))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a protobuf")
    with pytest.raises(OnnxModelError) as error:
        runner.load(corrupt, batch=1)
    message = str(error.value)
    assert "\n" not in message and "many_to_many torch-broadcast" in message and "torch.onnx.export" in message
    assert message.startswith(f"{corrupt}: ONNX Runtime cannot load")

    import onnx

    exported = tmp_path / "t5.onnx"  # the same export, its weights kept inside the one file
    onnx.save(onnx.load(str(Path(runner._dir.name) / "model.onnx")), str(exported))
    longer = make_runner("onnxruntime", case.spec.replace(timesteps=7), "torch-broadcast")
    with pytest.raises(OnnxModelError, match=r"does not fit: input shape \[1, 5, 1\], the many_to_many spec's is \[1, 7, 1\]"):
        longer.load(exported, batch=1)


def test_without_the_extra_the_cases_skip_with_the_reason(monkeypatch):
    from impls.contract import framework_class

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a))
    reason = harness.device_unavailable("onnxruntime", "cpu")
    assert reason == "ONNX cases need the onnx extra (pip install -e '.[onnx]'); missing: tf2onnx"
    assert framework_class("onnxruntime").unavailable("cuda") is not None  # no CUDAExecutionProvider in a CPU build


def test_the_suite_s_threads_reach_the_sessions_through_the_contract(monkeypatch):
    """runtime.configure records the count on every Framework part; ORT sizes its sessions by it."""
    import os

    from bench.suite import runtime
    from impls import ModelSpec
    from impls.contract import RUNTIMES, framework_class, framework_classes, make_runner

    for var in (*runtime.THREAD_ENV, "XLA_FLAGS", "TF_CPP_MIN_LOG_LEVEL", "TORCHINDUCTOR_FX_GRAPH_CACHE",
                "TORCHINDUCTOR_AUTOGRAD_CACHE"):  # what configure sets, put back after the test
        if var in os.environ:
            monkeypatch.setenv(var, os.environ[var])
        else:
            monkeypatch.delenv(var, raising=False)
    for framework in framework_classes():
        monkeypatch.setattr(framework, "_threads", None)
    monkeypatch.setattr(runtime, "FRAMEWORK_MODULES", ())  # this test process has loaded them already
    runtime.configure(3)
    assert [framework_class(name).threads() for name in RUNTIMES] == [3, 3, 3]
    runner = make_runner("onnxruntime", ModelSpec.seed("many_to_one"), "torch")
    assert runner.threads == 3 and "3 threads" in runner.kernel()


def row(framework, head, median, timesteps=50, profile="tdtax", **extra):
    return benchmark_row(framework, head, median, mode="infer", profile=profile, size=f"timesteps={timesteps}",
                         timesteps=timesteps, spread=0.1, **extra)


def test_td_tax_pairs_exports_of_one_source():
    rows = [row("onnxruntime", "keras-timedistributed", 0.004), row("onnxruntime", "keras-dense3d", 0.002),
            row("onnxruntime", "torch-loop", 0.003), row("onnxruntime", "torch-broadcast", 0.001),
            row("torch", "loop", 0.006), row("torch", "broadcast", 0.002)]
    taxes = {(t["framework"], t["looped_head"], t["fused_head"]): t["tax"] for t in td_tax_rows(rows)}
    assert taxes == {("onnxruntime", "keras-timedistributed", "keras-dense3d"): 2.0,
                     ("onnxruntime", "torch-loop", "torch-broadcast"): 3.0, ("torch", "loop", "broadcast"): 3.0}


def test_onnx_ratios_over_the_source_and_between_exports():
    rows = [row("onnxruntime", "keras-timedistributed", 0.002, profile="quick"),
            row("onnxruntime", "torch-broadcast", 0.001, profile="quick"),
            row("keras", "timedistributed", 0.008, profile="quick", backend="tensorflow"),
            row("torch", "broadcast", 0.004, profile="quick"),
            row("torch", "loop", 0.001, profile="quick")]  # not a source here: no ratio
    ratios = {(r["ratio"], r["numerator"], r["denominator"]): r["value"] for r in onnx_ratio_rows(rows)}
    assert ratios == {
        ("ort_over_source", "onnxruntime keras-timedistributed", "keras timedistributed"): 0.25,
        ("ort_over_source", "onnxruntime torch-broadcast", "torch broadcast"): 0.25,
        ("keras_export_over_torch_export", "onnxruntime keras-timedistributed", "onnxruntime torch-broadcast"): 2.0,
    }


def test_a_benchmarks_file_from_before_the_onnx_columns_still_loads(tmp_path):
    write_csv(tmp_path / "benchmarks.csv", [row("torch", "loop", 0.001)], REQUIRED_BENCHMARK_COLUMNS)
    (loaded,) = load_benchmarks(tmp_path)
    assert all(loaded[c] == "" for c in ONNX_COLUMNS) and loaded["head"] == "loop"
    assert next(csv.reader(open(tmp_path / "benchmarks.csv"))) == REQUIRED_BENCHMARK_COLUMNS
