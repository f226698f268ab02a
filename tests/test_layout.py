"""The layout the design promises: bench/ reaches frameworks only through the runtime contract."""

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


@pytest.mark.parametrize("framework", list(contract.RUNTIMES))
def test_each_runtime_has_both_parts_of_the_contract(framework):
    parts = contract.framework_class(framework), contract.runner_class(framework)
    assert [cls.framework for cls in parts] == [framework, framework]
    assert contract.missing(parts[0], contract.Framework) == []
    assert contract.missing(parts[1], contract.Runner) == []
    assert len({cls.__module__ for cls in parts}) == 1  # one module per runtime


def test_the_contract_check_can_fail():
    class Partial(contract.framework_class("torch")):
        gemm = None  # an attribute, not a classmethod
        unavailable = staticmethod(lambda device: None)

    class Bare:
        framework = backend = "bare"

    assert contract.missing(Partial, contract.Framework) == ["Partial.gemm: not a classmethod",
                                                             "Partial.unavailable: not a classmethod"]
    framework_missing = contract.missing(Bare, contract.Framework)
    assert "Bare.set_threads: missing" in framework_missing and "Bare.configure_threads: missing" in framework_missing
    assert len(framework_missing) == len(contract.contract_members(contract.Framework)) - 1  # all but the name
    runner_missing = contract.missing(Bare, contract.Runner)
    assert "Bare.train_step: missing" in runner_missing
    # all but the data members
    assert len(runner_missing) == len(contract.contract_members(contract.Runner)) - len(contract.Runner.__annotations__)
    # a model part is not a framework part: the framework's operations live on the other class
    assert "TorchRunner.gemm: missing" in contract.missing(contract.runner_class("torch"), contract.Framework)


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
    with pytest.raises(ValueError, match="framework must be one of torch, keras, onnxruntime; got 'mxnet'"):
        contract.framework_class("mxnet")


# --- the import drawing: one-way data flow between the rooms --------------------------------------

# The rooms, lowest first: impls/ knows nothing of bench/;
# store/ is the result files and their schema; analysis/ computes from them (statistics, derived
# tables, the saves that write them); suite/ is the pytest machinery that measures and saves;
# cluster/ sends the suite's work to a Ray cluster; commands/ sit on top, and bench/'s own top-level
# modules (cli, conftest, ...) above them.
# An arrow may point down or stay inside a room, never up or across to a sibling.
ROOMS = ("impls", "bench.store", "bench.analysis", "bench.suite", "bench.cluster", "bench.commands", "bench")
# Inside commands/, command_args is what the commands share; no command imports another.
SHARED_COMMAND_MODULES = {"bench.commands.command_args"}
# Imports inside a function: only where a framework must load late (after runtime.configure has set
# threads and the Keras backend), each with a "# late:" comment on its line saying so.
LATE_IMPORTS = {
    ("bench.analysis.parity", "impls"): "copy_weights/weight_pairs load Keras and torch (impls/bridge.py)",
    ("bench.commands.params", "impls"): "build_keras/build_torch load Keras and torch",
    ("bench.commands.seed", "impls"): "copy_weights loads Keras and torch",
    ("impls.keras_runtime", "impls.keras_losses"): "loads Keras",
    ("impls.keras_runtime", "impls.keras_models"): "loads Keras",
    ("impls.keras_runtime", "impls._keras_grads"): "loads Keras",
    ("impls.torch_runtime", "impls.optim"): "loads torch",
    ("impls.torch_runtime", "impls.torch_losses"): "loads torch",
    ("impls.torch_runtime", "impls.torch_models"): "loads torch",
    ("impls.torch_runtime", "impls.bridge"): "loads Keras and torch",
    ("bench.commands.run", "bench.cluster.driver"): "loads Ray, which only --cluster needs",
    ("bench.commands.stability", "bench.cluster.driver"): "loads Ray, which only --cluster needs",
}


def module_names(root: Path, packages=("bench", "impls")) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `packages` under `root`."""
    names = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def project_imports(root: Path = ROOT, packages=("bench", "impls")) -> list[tuple[str, str, int, bool, str]]:
    """(importer, imported module, line, inside a function?, the source line) for every import of a module
    of `packages`; `from package import name` counts as importing the submodule `name` where there is one."""
    modules = module_names(root, packages)
    found = []
    for name, path in modules.items():
        source = path.read_text()
        lines = source.splitlines()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]

        def visit(node, in_function):
            for child in ast.iter_child_nodes(node):
                inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if isinstance(child, ast.Import):
                    targets = [alias.name for alias in child.names]
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        parts = package.split(".")
                        base = ".".join(parts[:len(parts) - child.level + 1] + ([child.module] if child.module else []))
                    else:
                        base = child.module or ""
                    targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in child.names]
                else:
                    visit(child, inside)
                    continue
                for target in targets:
                    while target and target not in modules:
                        target = target.rpartition(".")[0]
                    if target and target != name:
                        found.append((name, target, child.lineno, inside, lines[child.lineno - 1]))

        visit(ast.parse(source, filename=str(path)), False)
    return sorted(set(found))


def room_of(module: str) -> int:
    """The index in ROOMS of the innermost (longest-named) room holding `module`."""
    rooms = [room for room in ROOMS if module == room or module.startswith(room + ".")]
    return ROOMS.index(max(rooms, key=len))


def import_cycles(imports) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set] = {}
    for importer, imported, *_ in imports:
        graph.setdefault(importer, set()).add(imported)
        graph.setdefault(imported, set())
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return cycles


def wrong_arrows(imports) -> list[str]:
    """Arrows that point up, or from one command to another."""
    wrong = set()
    for importer, imported, line, *_ in imports:
        if room_of(imported) > room_of(importer):
            wrong.add(f"{importer} -> {imported} (up)")
        elif (room_of(importer) == room_of(imported) == ROOMS.index("bench.commands")
              and imported not in SHARED_COMMAND_MODULES and imported != "bench.commands"):
            wrong.add(f"{importer} -> {imported} (a command importing a command)")
    return sorted(wrong)


def unexplained_late_imports(imports) -> list[str]:
    """Imports inside a function that the allow-list does not name, or whose line says not why."""
    return [f"{importer}:{line} {imported}" for importer, imported, line, inside, text in imports
            if inside and ((importer, imported) not in LATE_IMPORTS or "# late:" not in text)]


def walk_down_from(module: str, imports) -> tuple[list[str], list[str]]:
    """The modules reached from `module` by its imports (the walk a reader takes), and the arrows of
    that walk that climb back up to a higher room."""
    graph: dict[str, set] = {}
    for importer, imported, *_ in imports:
        graph.setdefault(importer, set()).add(imported)
    seen, todo, climbs = {module}, [module], set()
    while todo:
        here = todo.pop()
        for there in graph.get(here, ()):
            if room_of(there) > room_of(here):
                climbs.add(f"{here} -> {there}")
            if there not in seen:
                seen.add(there)
                todo.append(there)
    return sorted(seen), sorted(climbs)


def test_no_import_cycle():
    assert import_cycles(project_imports()) == []


def test_every_arrow_points_down_and_no_command_imports_another():
    assert wrong_arrows(project_imports()) == []


def test_imports_inside_functions_are_only_the_late_framework_loads():
    imports = project_imports()
    assert unexplained_late_imports(imports) == []
    used = {(importer, imported) for importer, imported, _, inside, _ in imports if inside}
    assert set(LATE_IMPORTS) == used, "LATE_IMPORTS names an import that is gone: drop it"


def test_the_save_walks_down_only():
    """save_run reads the store, computes in analysis, and never climbs back up."""
    modules, climbs = walk_down_from("bench.analysis.save", project_imports())
    assert climbs == [] and "bench.store.schema" in modules
    assert not [m for m in modules if room_of(m) > ROOMS.index("bench.analysis")]


def test_the_drawing_sees_cycles_upward_arrows_and_late_imports(tmp_path):
    """The checks above can fail: a small tree with each fault is caught."""
    for name, text in {
        "bench/__init__.py": "",
        "bench/store/__init__.py": "",
        "bench/store/schema.py": "from ..analysis import stats\n",  # up
        "bench/analysis/__init__.py": "",
        "bench/analysis/stats.py": "def f():\n    from ..store import schema\n",  # late, unexplained; a cycle
        "bench/commands/__init__.py": "",
        "bench/commands/a.py": "from . import b\n",  # a command importing a command
        "bench/commands/b.py": "",
        "impls/__init__.py": "",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    imports = project_imports(tmp_path)
    assert import_cycles(imports) == [["bench.analysis.stats", "bench.store.schema"]]
    assert wrong_arrows(imports) == ["bench.commands.a -> bench.commands.b (a command importing a command)",
                                     "bench.store.schema -> bench.analysis.stats (up)"]
    assert unexplained_late_imports(imports) == ["bench.analysis.stats:2 bench.store.schema"]
    assert walk_down_from("bench.analysis.stats", imports)[1] == ["bench.store.schema -> bench.analysis.stats"]
