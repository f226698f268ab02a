"""The docs match the code: every link resolves, every file they name exists, every number they quote is the code's."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bench.suite.cases import MID_BATCH, MID_SIZES
from bench.analysis.processes import AUTO_MIN_PROCESSES
from bench.analysis.stats import EQUIVALENCE_MARGIN
from bench.analysis.tolerances import TRAINING_STEPS
from bench.suite.options import DEFAULT_RUN_BUDGET_S, OPTIONS
from bench.suite.session import SAVE_RESERVE_S

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "results").rglob("README.md"))]
CODE = sorted([*(ROOT / "bench").rglob("*.py"), *(ROOT / "impls").rglob("*.py")])
# A path of this repository as prose names it: bench/store/schema.py, docs/methods.md, ...
REPO_PATH = re.compile(r"(?<![\w/.-])((?:bench|impls|tests|docs)/[\w/.-]*\w\.(?:py|md|sh|toml))")


def links(path: Path) -> list[str]:
    """The relative targets of Markdown links in `path`, anchors dropped."""
    targets = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    missing = [t for t in links(doc) if not (doc.parent / t).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} links to what does not exist: {missing}"


def test_every_file_named_in_docs_and_docstrings_exists():
    named = {(str(p.relative_to(ROOT)), m) for p in DOCS + CODE for m in REPO_PATH.findall(p.read_text())}
    missing = sorted((where, m) for where, m in named if not (ROOT / m).exists())
    assert not missing, missing
    cites = [str(p.relative_to(ROOT)) for p in DOCS + CODE if "DESIGN.md" in p.read_text()]
    assert not cites, f"DESIGN.md is not in the repository; cited by {cites}"


def _pytest_addopt(name: str) -> str:
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    return re.search(rf"--{name}=(\S+)", addopts).group(1)


def _number(text: str) -> str:
    return f"{text:g}" if isinstance(text, float) else str(text)


# (doc, a pattern whose groups quote numbers, the code's values for those groups)
QUOTES = [
    ("docs/commands.md", r"a mid size, batch (\d+), (\d+) steps, (\d+) features, (\d+) units",
     lambda: [MID_BATCH, MID_SIZES["many_to_one"]["timesteps"], MID_SIZES["many_to_one"]["features"],
              MID_SIZES["many_to_one"]["units"]]),
    ("docs/commands.md", r"attention\s+vocabulary (\d+)", lambda: [MID_SIZES["attention"]["vocab_size"]]),
    ("docs/methods.md", r'reads "same \(±(\d+)%\)"', lambda: [EQUIVALENCE_MARGIN * 100]),
    ("docs/methods.md", r"within 1/(1\.\d+) \.\. (1\.\d+)", lambda: [1 + EQUIVALENCE_MARGIN, 1 + EQUIVALENCE_MARGIN]),
    ("README.md", r"reach `--precision` \(±([\d.]+)%\)", lambda: [OPTIONS["--precision"]["default"] * 100]),
    ("README.md", r"as a fraction \(±([\d.]+)% is the target\)", lambda: [OPTIONS["--precision"]["default"] * 100]),
    ("README.md", r"(\d+) training steps and parameter counts", lambda: [TRAINING_STEPS]),
    ("docs/commands.md", r"from (\d+) processes on, one more", lambda: [AUTO_MIN_PROCESSES]),
    ("docs/commands.md", r"else (\d+) s from the process's\s+start\) among all its problems", lambda: [DEFAULT_RUN_BUDGET_S]),
    ("docs/commands.md", r"its own start-up and the (\d+) s reserve for\s+the save", lambda: [SAVE_RESERVE_S]),
]


@pytest.mark.parametrize("doc, pattern, code", QUOTES, ids=[f"{d}: {p[:30]}" for d, p, _ in QUOTES])
def test_every_quoted_constant_is_the_code_s(doc, pattern, code):
    found = re.search(pattern, (ROOT / doc).read_text())
    assert found, f"{doc} no longer says {pattern!r}: update QUOTES or the doc"
    assert [_number(float(g)) for g in found.groups()] == [_number(float(v)) for v in code()]
