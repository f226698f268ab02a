"""The README: its generated blocks match the committed results, and its first screen holds the answer."""

import re
import shutil
from pathlib import Path

from bench.cli import main
from bench.store import layout

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FIRST_SCREEN = 60  # lines


def test_generated_blocks_match_the_committed_results(tmp_path):
    readme = shutil.copy(README, tmp_path / "README.md")
    assert main(["table", "--results-dir", str(layout.reference_dir(ROOT / layout.RESULTS_ROOT)), "--readme", str(readme)]) == 0
    assert Path(readme).read_text() == README.read_text(), "run: python -m bench table --readme README.md"


def ci_test_commands() -> list[str]:
    """.ci/run's installs and its first pytest command: the README's test command, word for word."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    installs = [l.replace(" --quiet", "") for l in lines if l.startswith("python -m pip install") and "--upgrade pip" not in l]
    return installs + [next(l for l in lines if l.startswith("pytest "))]


def test_first_screen_holds_the_setup_commands_the_answer_table_and_its_figure():
    screen = "\n".join(README.read_text().splitlines()[:FIRST_SCREEN])
    commands = ci_test_commands()
    assert len(commands) == 3  # torch pinned, the project's extras, the tests
    test_line = next(l for l in screen.splitlines() if l.endswith(commands[-1]))
    assert test_line == " && ".join(commands)
    assert re.search(r"^python -m pip install .* && python -m bench run$", screen, re.M)  # the job writing results/
    table = screen.split("<!-- answer-table:start -->\n")[1].split("<!-- answer-table:end -->")[0]
    assert table.startswith("| topology | size (batch) | mode | Keras on ")
    assert len([l for l in table.splitlines() if l.startswith("| ")]) > 10 and "[" in table  # rows, with intervals
    figure = re.search(r"^!\[[^]]*\]\((results/[^)]+\.png)\)$", screen, re.M)
    assert figure and (ROOT / figure.group(1)).is_file()


def test_readme_reads_in_five_minutes():
    assert len(README.read_bytes()) < 15_000
