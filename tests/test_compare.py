"""`python -m bench compare`: the regression rule, its exit status, and bad input."""

import numpy as np
import pandas as pd
import pytest

from bench.store import noise, raw
from bench.cli import main
from bench.store.schema import BENCHMARK_COLUMNS
from bench.store.files import write_csv
from tests.helpers import benchmark_row


def row(head="broadcast", median=0.010, iqr=0.001, status="ok", framework="torch", rounds=100, **extra):
    return benchmark_row(framework, head, median, iqr_s=iqr, rounds=rounds, status=status, **extra)


def results(tmp_path, name, rows, columns=BENCHMARK_COLUMNS, rounds=None, run_var=None, blocks=1):
    """A results directory; `rounds`: raw rounds for every row (scaled to its median), in `blocks` equal
    blocks; `run_var`: its noise.json."""
    write_csv(tmp_path / name / "benchmarks.csv", rows, columns)
    if rounds is not None:
        extra = {"block_rounds": [len(rounds) // blocks] * blocks} if blocks > 1 else {}
        entries = [raw.entry(str(i), "g", r, extra, {"data": list(np.asarray(rounds) * r["median_s"])})
                   for i, r in enumerate(rows)]
        raw.save(tmp_path / name, entries, {})
    if run_var is not None:
        noise.save(tmp_path / name, {"ratio_run_var": run_var, "time_run_var": run_var})
    return str(tmp_path / name)


def compare(tmp_path, old_rows, new_rows, *options, **kwargs):
    return main(["compare", results(tmp_path, "old", old_rows, **kwargs), results(tmp_path, "new", new_rows, **kwargs),
                 *options])


def first_verdict(out: str) -> str:
    """The verdict column of the table's first (worst) case; empty when within the noise."""
    ratio, old_ms, new_ms, verdict = out.splitlines()[2].split()[:4]  # after the header and its rule
    return verdict if verdict in ("slower", "faster") else ""


# 200 rounds with a 5% lognormal spread around 1: the median is known to about 0.5%.
ROUNDS = np.exp(np.random.default_rng(0).normal(0, 0.05, 200))


@pytest.mark.parametrize(
    "new_median, run_var, verdict",
    [
        (0.0115, 0.0, "slower"),  # 15% slower, far outside the rounds' noise, none between runs
        (0.0115, 0.1**2, ""),  # 15% slower, but runs of this machine move by 10% (sd of log time)
        (0.0108, 0.0, ""),  # outside the noise but within the 10% threshold
        (0.0100, 0.0, ""),  # unchanged
        (0.0050, 0.1**2, "faster"),  # halved: beyond the run-to-run noise too
    ],
)
def test_a_change_must_be_beyond_the_noise_and_the_threshold(tmp_path, capsys, new_median, run_var, verdict):
    status = compare(tmp_path, [row()], [row(median=new_median)], rounds=ROUNDS, run_var=run_var)
    assert status == (1 if verdict == "slower" else 0)
    out = capsys.readouterr().out
    assert first_verdict(out) == verdict and "run-to-run noise from" in out


def test_without_raw_rounds_the_iqr_stands_for_them(tmp_path, capsys):
    # IQR 3 ms of 10 over 5 rounds: se(log median) = 1.2533 * 0.3 / 1.349 / sqrt(5) = 0.125; band 0.35 > log 1.15
    assert compare(tmp_path, [row(iqr=0.003, rounds=5)], [row(median=0.0115, iqr=0.003, rounds=5)]) == 0
    # the same change with 100 rounds of 1 ms IQR: band 0.05, flagged
    assert compare(tmp_path, [row()], [row(median=0.0115)]) == 1
    assert "no noise.json" in capsys.readouterr().out


def test_false_discoveries_are_held_at_five_percent_over_all_tests(tmp_path, capsys):
    """200 cases, each 12% slower with a noise sd of 1%, judged one by one at 95% would flag far more
    than the truly slowed one when their changes only graze the threshold; the joint test flags the one
    far beyond it and keeps the rest (Benjamini-Hochberg over cases and ratios)."""
    from bench.analysis.stats import benjamini_hochberg, excess_p_value

    rng = np.random.default_rng(4)
    changes = np.log1p(0.10) + rng.normal(0, 0.01, 200)  # true change at the threshold's edge: not beyond it
    p = [excess_p_value(c, 0.01**2, 0.10, 0) for c in changes]
    one_by_one = sum(x < 0.05 for x in p)
    assert one_by_one >= 5  # about 5% of 200 cross a one-test 95% line by chance
    assert sum(benjamini_hochberg(p)) <= 1
    far = p + [excess_p_value(np.log1p(0.30), 0.01**2, 0.10, 0)]  # one truly beyond: still found
    assert benjamini_hochberg(far)[-1]
    assert main(["compare", *(results(tmp_path, n, [row()], rounds=ROUNDS) for n in ("old", "new")), "--inject", "keras=0.2"]) == 2


def test_keys_match_however_the_csv_was_resaved(tmp_path, capsys):
    """1000 vs 1000.0, empty cells vs NaN: pandas' read_csv/to_csv round trip still matches the original."""
    attention = dict(topology="attention", vocab_size=1000, embedding_dim=32, dense_units=64, features=None)
    # a column with a blank cell (many_to_many has no vocabulary) is read by pandas as floats
    old = results(tmp_path, "old", [row(**attention), row()], rounds=ROUNDS)
    resaved = tmp_path / "resaved.csv"
    pd.read_csv(f"{old}/benchmarks.csv").to_csv(resaved, index=False)
    text = resaved.read_text()
    assert "1000.0" in text  # pandas wrote the vocabulary as a float: the keys differ as text
    assert main(["compare", old, str(resaved)]) == 0
    out = capsys.readouterr().out
    assert "0 of 2 case(s) slower" in out and "only in" not in out


@pytest.mark.parametrize("threshold, status", [("10%", 1), ("0.1", 1), ("60%", 0), ("0.6", 0)])
def test_threshold_as_percentage_or_fraction(tmp_path, threshold, status):
    assert compare(tmp_path, [row()], [row(median=0.015)], "--threshold", threshold) == status


def test_cases_sorted_worst_first(tmp_path, capsys):
    old = [row("broadcast"), row("loop")]
    new = [row("broadcast", median=0.011), row("loop", median=0.02)]
    assert compare(tmp_path, old, new) == 1
    table = capsys.readouterr().out.splitlines()[2:4]  # after the header and its rule
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


def keras_torch_pair(keras_median, torch_median):
    keras = row(head="timedistributed", median=keras_median, framework="keras", backend="tensorflow")
    return [keras, row(head="broadcast", median=torch_median)]


@pytest.mark.parametrize("blocks", [1, 10])  # 10: the ratio comes from the paired blocks
def test_a_framework_slowed_shows_in_its_ratios_even_when_single_times_are_too_noisy_to_tell(tmp_path, capsys, blocks):
    # times move 30% between runs (time_run_var), ratios 2% (ratio_run_var): Keras slowed 20%
    for name, keras_median in (("old", 0.02), ("new", 0.02), ("slower", 0.024)):
        results(tmp_path, name, keras_torch_pair(keras_median, 0.01), rounds=ROUNDS, blocks=blocks)
        noise.save(tmp_path / name, {"ratio_run_var": 0.02**2, "time_run_var": 0.3**2})
    assert main(["compare", str(tmp_path / "old"), str(tmp_path / "new")]) == 0  # A/A: nothing flagged
    assert "0 Keras/torch ratio(s) changed" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "old"), str(tmp_path / "slower")]) == 1
    out = capsys.readouterr().out
    assert "0 of 2 case(s) slower" in out and "1 Keras/torch ratio(s) changed" in out
    (line,) = [l for l in out.splitlines() if "timedistributed/broadcast" in l]
    assert line.split()[:3] == ["2.000", "2.400", "higher"]
    # the other way round the ratio is lower
    assert main(["compare", str(tmp_path / "slower"), str(tmp_path / "old")]) == 1
    assert "lower" in capsys.readouterr().out