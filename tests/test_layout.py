"""The layout the design promises: bench/ reaches frameworks only through the runner contract."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from impls import contract

ROOT = Path(__file__).resolve().parent.parent
# The ML frameworks and runtimes (and their exporters): only impls/ may import them.
FRAMEWORKS = {"torch", "tensorflow", "jax", "jaxlib", "keras", "onnx", "onnxruntime", "tf2onnx", "onnxscript"}


def framework_imports(path: Path) -> list[str]:
    """"file:line module" for every import of a framework in `path`, at any depth (functions included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
            names = [node.args[0].value]  # importlib.import_module("torch") is an import too
        else:
            continue
        found += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names
                  if name.split(".")[0] in FRAMEWORKS]
    return found


def test_no_bench_module_imports_a_framework():
    modules = sorted((ROOT / "bench").rglob("*.py"))
    assert len(modules) > 10  # the walk found the package (sub-packages included)
    offenders = [hit for path in modules for hit in framework_imports(path)]
    assert not offenders, "bench/ must reach frameworks through impls/contract.py; imports: " + "; ".join(offenders)


def test_the_import_check_sees_every_form(tmp_path, monkeypatch):
    """The check above can fail: each way of importing a framework is reported with its line."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    source = tmp_path / "m.py"
    source.write_text(
        "import os\n"
        "import torch.nn as nn\n"
        "def f():\n"
        "    from keras import ops\n"
        "    import importlib\n"
        "    return importlib.import_module('onnxruntime')\n"
        "from .tensorflow import x\n"  # a relative module that happens to share a name: not a framework
        "import torchvision_like\n"
    )
    assert framework_imports(source) == ["m.py:2 torch.nn", "m.py:4 keras", "m.py:6 onnxruntime"]


@pytest.mark.parametrize("framework", list(contract.RUNNERS))
def test_each_adapter_has_the_whole_contract(framework):
    cls = contract.runner_class(framework)
    assert cls.framework == framework
    assert contract.missing(cls) == []


def test_the_contract_check_can_fail():
    from impls.runners import TorchRunner

    class Partial(TorchRunner):
        gemm = None  # an attribute, not a classmethod
        unavailable = staticmethod(lambda device: None)

    class Bare:
        framework = backend = "bare"

    assert contract.missing(Partial) == ["Partial.gemm: not a classmethod", "Partial.unavailable: not a classmethod"]
    missing = contract.missing(Bare)
    assert "Bare.train_step: missing" in missing and "Bare.set_threads: missing" in missing
    assert len(missing) == len(contract.contract_members()) - len(contract.Runner.__annotations__)  # all but the data members


@pytest.mark.parametrize("framework, head", [("keras", "timedistributed"), ("torch", "loop")])
def test_built_runners_satisfy_the_protocol(framework, head):
    """Instances hold the per-model data too (spec, head, device, compiled ...): isinstance checks all of it."""
    from impls import ModelSpec

    runner = contract.make_runner(framework, ModelSpec.seed("many_to_one"), head)
    assert isinstance(runner, contract.Runner)
    del runner.spec
    assert not isinstance(runner, contract.Runner)


def test_unknown_framework_is_named():
    with pytest.raises(ValueError, match="framework must be one of torch, keras, onnxruntime; got 'mxnet'"):
        contract.runner_class("mxnet")
