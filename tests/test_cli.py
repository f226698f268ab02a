"""`python -m bench`: bad input is one line on stderr and exit status 2; params works."""

import csv

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


def test_params_prints_layers_and_writes_csv(tmp_path, capsys, monkeypatch):
    # In-process: other tests of this session may have loaded the frameworks already, and the thread
    # set-up needs a fresh process (what it does is tests/test_harness.py's and the suite's to check).
    monkeypatch.setattr("bench.suite.runtime.configure", lambda threads, keras_backend=None: None)
    out = tmp_path / "params.csv"
    assert main(["params", "--topology", "many_to_many", "--units", "7", "--out", str(out)]) == 0
    assert "4*((1+1)*7 + 7^2) = 252" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    assert [r["layer"] for r in rows] == ["lstm", "head", "total"]
    lstm = rows[0]
    assert (lstm["keras"], lstm["torch_native"], lstm["torch_keras_compatible"]) == ("252", "280", "252")
    assert all(r["matches"] == "True" for r in rows)
