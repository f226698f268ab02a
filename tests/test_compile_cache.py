"""--compile-cache: each framework's persistent compile cache pointed at one directory, what a row says
its first call met, and the cold/warm table (bench/analysis/compile_cost.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.analysis.compile_cost import cache_rows, cache_table
from bench.suite.backend_processes import pytest_command
from bench.suite.options import OPTIONS
from impls import compile_cache

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("before, after, compiled, said", [
    (Counter(), Counter(), True, ""),  # off
    (Counter(files=0), Counter(files=3, misses=2), True, "cold (2 misses, 3 files written)"),
    (Counter(files=3, hits=1), Counter(files=3, hits=3), True, "warm (2 hits)"),
    (Counter(files=3), Counter(files=4, hits=1, misses=1), True, "partly warm (1 hits, 1 misses, 1 files written)"),
    (Counter(files=3), Counter(files=3), True, "unused"),
    (Counter(files=2, blind=1), Counter(files=2, blind=1), True, "warm (nothing written, 2 files cached)"),
    (Counter(files=2, blind=1), Counter(files=2, blind=1), False, "unused"),  # TensorFlow, no XLA
    (Counter(files=2, blind=1), Counter(files=3, blind=1), True, "cold (1 files written)"),
])
def test_the_first_call_s_cache_state(before, after, compiled, said):
    assert compile_cache.state(before, after, compiled) == said


def test_each_framework_s_cache_is_set_in_its_own_subdirectory(tmp_path, monkeypatch):
    # a copy of the environment, put back after: nothing set here reaches the rest of the session
    monkeypatch.setattr(os, "environ", {**os.environ, "TF_XLA_FLAGS": "--tf_xla_auto_jit=0"})
    monkeypatch.setattr(compile_cache, "_directory", {})
    for loaded in ("torch._inductor.config", "jax"):  # frameworks loaded by earlier tests: their configs untouched
        monkeypatch.delitem(sys.modules, loaded, raising=False)
    torch = compile_cache.point("torch", tmp_path)
    assert torch["TORCHINDUCTOR_FX_GRAPH_CACHE"] == "1" and torch["TORCHINDUCTOR_AUTOGRAD_CACHE"] == "1"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "torch-inductor")
    compile_cache.point("jax", tmp_path)
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "jax")
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    compile_cache.point("tensorflow", tmp_path)
    compile_cache.point("tensorflow", tmp_path)  # said once, the other flags kept
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory={tmp_path / 'tf-xla'}"
    assert {p.name for p in tmp_path.iterdir()} == {"torch-inductor", "jax", "tf-xla"}
    (tmp_path / "tf-xla" / "entry.pb").write_bytes(b"x")
    assert compile_cache.events("tensorflow") == Counter(files=1, blind=1)


def test_off_by_default_and_passed_on_by_bench_run():
    assert OPTIONS["--compile-cache"]["default"] is None
    args = SimpleNamespace(profile="quick", compile="on", threads=1, blocks=10, results_dir="/tmp/r", pytest_args=["-k", "x"])
    assert "--compile-cache" not in pytest_command("torch", args)
    command = pytest_command("torch", SimpleNamespace(**vars(args), compile_cache="cache"))
    at = command.index("--compile-cache")
    assert command[at + 1] == str(Path("cache").resolve()) and command[-2:] == ["-k", "x"]


def _row(framework, first, cache, **key):
    base = dict(topology="one_to_one", framework=framework, backend=framework if framework == "torch" else "torch",
                keras_backend="torch", head="n/a", compile="on", compiler="torch.compile", mode="train",
                device="cpu", profile="quick", size="seed", batch="5", threads="1", status="ok", median_s="0.001")
    return {**base, **key, "first_call_s": str(first), "compile_cache": cache}


def test_the_cold_warm_table_pairs_the_same_case():
    cold = [_row("keras", 20.0, "cold (5 misses)"), _row("torch", 4.0, "cold (6 misses)")]
    warm = [_row("torch", 1.0, "warm (6 hits)"), _row("keras", 15.0, "warm (5 hits)", mode="infer")]
    rows = cache_rows(cold, warm)
    assert [(r["framework"], r["cold_first_s"], r["warm_first_s"], r["saved_s"]) for r in rows] == [("torch", 4.0, 1.0, 3.0)]
    assert "| 4.00 | 1.00 | 3.00 s (75%) | cold (6 misses) | warm (6 hits) |" in cache_table(rows)


@pytest.mark.slow
def test_a_second_process_finds_torch_s_compiled_graph_warm(tmp_path):
    """The real thing, through the runner's classmethods: one torch.compile in two processes, one cache."""
    script = textwrap.dedent(f"""
        from bench.suite import runtime
        runtime.configure(1)
        runtime.use_compile_caches({str(tmp_path)!r})
        from impls.compile_cache import state
        from impls.contract import framework_class
        TorchRunner = framework_class("torch")
        import torch
        f = torch.compile(lambda x: torch.sin(x) * 2 + 1, dynamic=False)
        before = TorchRunner.compile_cache_events()
        f(torch.ones(4))
        print(state(before, TorchRunner.compile_cache_events()))
    """)
    said = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PYTHONPATH=str(ROOT))) for _ in range(2)]
    assert all(s.returncode == 0 for s in said), [s.stderr[-2000:] for s in said]
    cold, warm = (s.stdout.strip().splitlines()[-1] for s in said)
    assert cold.startswith("cold") and warm.startswith("warm"), (cold, warm)
