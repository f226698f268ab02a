"""The README: its generated blocks match the committed results, and its first screen holds the answer."""

import re
import shutil
from pathlib import Path

from bench.analysis import result_tables
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
    assert " --run-slow" in commands[-1]  # the README's and CI's test command leaves no test out
    assert re.search(r"^python -m pip install .* && python -m bench run$", screen, re.M)  # the job writing results/
    table = screen.split("<!-- answer-table:start -->\n")[1].split("<!-- answer-table:end -->")[0]
    assert table.startswith("| topology | size (batch) | mode | Keras on ")
    assert len([l for l in table.splitlines() if l.startswith("| ")]) > 10 and "[" in table  # rows, with intervals
    figure = re.search(r"^!\[[^]]*\]\((results/[^)]+\.png)\)$", screen, re.M)
    assert figure and (ROOT / figure.group(1)).is_file()


def test_the_first_screen_says_what_the_suite_is_and_its_ratios_carry_their_unit():
    """What a byte limit stood for: the first screen is whole (what, set-up, answer, figure), the rest is linked."""
    lines = README.read_text().splitlines()
    figure = next(i for i, l in enumerate(lines) if l.startswith("!["))
    assert figure < FIRST_SCREEN
    assert lines[0] == "# tdbench" and "Keras" in lines[2] and "PyTorch" in lines[3]  # what the suite is, at once
    table = "\n".join(lines[:figure]).split("<!-- answer-table:start -->\n")[1].split("<!-- answer-table:end -->")[0]
    cells = [c.strip() for l in table.splitlines()[2:] if l.startswith("| ") for c in l.strip("|").split("|")[3:]]
    mark = f" {result_tables.MISSED_TARGET}"  # a ratio whose run missed its precision target says so
    assert cells and all(c.removesuffix(mark).endswith("]") and ("× [" in c or c.startswith("same (")) or c == "not timed"
                         for c in cells), cells
    rest = "\n".join(lines[figure + 1:])
    for doc in ("docs/methods.md", "docs/commands.md", "docs/results.md"):
        assert f"]({doc})" in rest  # everything else is one link away


def test_the_readme_defines_its_words_in_one_line_each():
    text = README.read_text()
    for word in ("slice", "block", "ratio"):
        (line,) = [l for l in text.splitlines() if l.startswith(f"- **{word}**: ")]
    assert "- **seed** means" in text


def test_what_the_readme_quotes_as_the_reference_is_the_set_reference_json_names():
    """The answer's sentence, its figure and the report link name the machine results/reference.json names:
    switching the reference is one file and `bench table --readme`, and this test says which lines to follow."""
    text = README.read_text()
    reference = layout.reference_name(ROOT / layout.RESULTS_ROOT)
    quoted = re.findall(r"reference machine's set, `results/([^/`]+)/`", text)
    quoted += re.findall(r"\]\(results/([^/)]+)/keras-over-torch\.png\)", text)
    quoted += re.findall(r"\]\(results/([^/)]+)/report\.md\)", text)[:1]  # the first report link: the reference's
    assert len(quoted) == 3 and set(quoted) == {reference}, quoted
