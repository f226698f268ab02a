"""`python -m bench compare`: the regression rule, its exit status, and bad input."""

import pytest

from bench.cli import main
from bench.results import BENCHMARK_COLUMNS
from bench.storage import write_csv


def row(head="broadcast", median=0.010, iqr=0.001, status="ok", **extra):
    r = dict.fromkeys(BENCHMARK_COLUMNS)
    r.update(
        topology="many_to_many", framework="torch", backend="torch", keras_backend="tensorflow", head=head,
        compile="off", mode="train", device="cpu", profile="quick", size="mid", batch=32, timesteps=50,
        features=16, units=64, outputs=1, median_s=median, iqr_s=iqr, status=status,
    )
    r.update(extra)
    return r


def results(tmp_path, name, rows, columns=BENCHMARK_COLUMNS):
    write_csv(tmp_path / name / "benchmarks.csv", rows, columns)
    return str(tmp_path / name)


def compare(tmp_path, old_rows, new_rows, *options):
    return main(["compare", results(tmp_path, "old", old_rows), results(tmp_path, "new", new_rows), *options])


def first_verdict(out: str) -> str:
    """The verdict column of the table's first (worst) case; empty when within the noise."""
    ratio, old_ms, new_ms, verdict = out.splitlines()[1].split()[:4]
    return verdict if verdict in ("slower", "faster") else ""


@pytest.mark.parametrize(
    "new_median, new_iqr, verdict",
    [
        (0.0115, 0.001, "slower"),  # 15% slower, 1.5 ms more against a spread of 1 ms: regression
        (0.0115, 0.003, ""),  # 15% slower, but the interquartile ranges overlap (spread 2 ms)
        (0.0109, 0.0, ""),  # beyond the spread (0.5 ms) but within the 10% threshold
        (0.0100, 0.001, ""),  # unchanged
        (0.0050, 0.001, "faster"),  # the same rule the other way round
    ],
)
def test_regression_needs_the_threshold_and_the_spread(tmp_path, capsys, new_median, new_iqr, verdict):
    assert compare(tmp_path, [row()], [row(median=new_median, iqr=new_iqr)]) == (1 if verdict == "slower" else 0)
    assert first_verdict(capsys.readouterr().out) == verdict


@pytest.mark.parametrize("threshold, status", [("10%", 1), ("0.1", 1), ("60%", 0), ("0.6", 0)])
def test_threshold_as_percentage_or_fraction(tmp_path, threshold, status):
    assert compare(tmp_path, [row()], [row(median=0.015)], "--threshold", threshold) == status


def test_cases_sorted_worst_first(tmp_path, capsys):
    old = [row("broadcast"), row("loop")]
    new = [row("broadcast", median=0.011), row("loop", median=0.02)]
    assert compare(tmp_path, old, new) == 1
    table = capsys.readouterr().out.splitlines()[1:3]
    assert table[0].split()[0] == "2.000" and " loop " in table[0]
    assert table[1].split()[0] == "1.100" and " broadcast " in table[1]


def test_one_sided_and_untimed_cases_are_listed_not_fatal(tmp_path, capsys):
    old = [row("broadcast"), row("loop"), row("broadcast", mode="infer")]
    new = [row("broadcast"), row("loop", status="could not run: X", median=None), row("broadcast", size="seed")]
    assert compare(tmp_path, old, new) == 0
    out = capsys.readouterr().out
    assert "not timed in" in out and "loop train mid [" in out and "could not run: X" in out
    assert "broadcast infer mid [" in out.split("only in")[1]  # only in OLD
    assert "broadcast train seed [" in out.split("only in")[2]  # only in NEW
    assert "0 of 1 case(s) slower" in out


def test_a_file_and_a_directory_both_work(tmp_path, capsys):
    old, new = results(tmp_path, "old", [row()]), results(tmp_path, "new", [row()])
    assert main(["compare", old, f"{new}/benchmarks.csv"]) == 0
    assert main(["compare", f"{old}/benchmarks.csv", new]) == 0


@pytest.mark.parametrize(
    "write_new, options, message",
    [
        (lambda d: (d / "new").mkdir(), [], "new/benchmarks.csv: no such file"),
        (lambda d: results(d, "new", [row()], columns=BENCHMARK_COLUMNS[:-5]), [], "line 1: the header lacks column(s) status"),
        (lambda d: results(d, "new", [row(median="fast")]), [], "line 2, column median_s: 'fast' is not a number"),
        (lambda d: results(d, "new", [row(topology="attention")]), [], "have no case timed in both"),
        (lambda d: results(d, "new", [row(), row()]), [], "line 3: the same case as line 2"),
        (lambda d: results(d, "new", [row()]), ["--threshold", "abc"], "--threshold: must be a finite non-negative"),
        (lambda d: results(d, "new", [row()]), ["--threshold=-5%"], "--threshold: must be a finite non-negative"),
        (lambda d: results(d, "new", [row()]), ["--threshold", "-5%"], "--threshold: must be a finite non-negative"),
        (lambda d: results(d, "new", [row()]), ["--threshold", "inf"], "--threshold: must be a finite non-negative"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem_and_status_2(tmp_path, capsys, write_new, options, message):
    old = results(tmp_path, "old", [row()])
    write_new(tmp_path)
    assert main(["compare", old, str(tmp_path / "new"), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
