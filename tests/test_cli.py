"""`python -m bench`: bad input is one line on stderr and exit status 2; params works."""

import csv
import subprocess
import sys

import pytest

from bench.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["params", "--units", "0"], "units must be a positive integer, got 0"),
        (["params", "--topology", "two_to_two"], "argument --topology: invalid choice: 'two_to_two'"),
        (["params", "--threads", "0"], "--threads must be a positive integer, got '0'"),
        (["params", "--topology", "one_to_one", "--timesteps", "4"], "timesteps must be 1 for one_to_one"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_input_is_one_line_and_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_params_prints_layers_and_writes_csv(tmp_path):
    out = tmp_path / "params.csv"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "params", "--topology", "many_to_many", "--units", "7", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "4*((1+1)*7 + 7^2) = 252" in done.stdout
    rows = list(csv.DictReader(out.open()))
    assert [r["layer"] for r in rows] == ["lstm", "head", "total"]
    lstm = rows[0]
    assert (lstm["keras"], lstm["torch_native"], lstm["torch_keras_compatible"]) == ("252", "280", "252")
    assert all(r["matches"] == "True" for r in rows)
