"""`python -m bench seed`: the seed's data, a short real run (in-process), the verdicts, and bad options."""

import csv
import json

import numpy as np
import pytest

from bench.cli import main
from bench.commands.seed import (
    Experiment, Run, extrapolation_table, keras_ways_agree, learning_verdict, seed_data,
)

SEQ = [0.0, 0.2, 0.4, 0.6, 0.8]


@pytest.mark.parametrize(
    "topology, x_shape, y_shape, x_test_shape, batch",
    [
        ("one_to_one", (5, 1, 1), (5, 1), (10, 1, 1), 5),
        ("many_to_one", (1, 5, 1), (1, 5), (1, 5, 1), 1),
        ("many_to_many", (1, 5, 1), (1, 5), (1, 5, 1), 1),  # the seed's y, which the suite refuses
    ],
)
def test_seed_data_is_shaped_as_the_seed_shapes_it(topology, x_shape, y_shape, x_test_shape, batch):
    x, y, x_test, seed_batch = seed_data(topology)
    assert (x.shape, y.shape, x_test.shape, seed_batch) == (x_shape, y_shape, x_test_shape, batch)
    assert x.dtype == y.dtype == x_test.dtype == np.float32
    np.testing.assert_allclose(x.ravel(), SEQ, atol=1e-7)
    np.testing.assert_allclose(y.ravel(), SEQ, atol=1e-7)
    np.testing.assert_allclose(x_test.ravel()[:2], [1.0, 1.2], atol=1e-6)


TARGET = np.array(SEQ).reshape(1, 5, 1)


def _experiment(fit, steps, torch):
    """Three made-up trained runs (predictions given flat) on the seed's many_to_many target."""

    def run(framework, method, flat):
        predictions = np.asarray(flat, np.float32).reshape(TARGET.shape)
        return Run(framework, method, 1000, 1.0, predictions, predictions)

    return Experiment("many_to_many", TARGET, TARGET, [], run("keras", "fit", fit),
                      run("keras", "train_on_batch", steps), run("torch", "adam", torch))


def test_learning_needs_every_prediction_within_0_05():
    close = [0.04, 0.2, 0.4, 0.6, 0.8]
    assert learning_verdict(_experiment(close, close, close)).startswith("learned")
    off = [0.06, 0.2, 0.4, 0.6, 0.8]
    verdict = learning_verdict(_experiment(close, close, off))
    assert verdict.startswith("NOT learned") and "torch adam 0.060" in verdict


def test_keras_ways_tolerate_float_noise_but_not_a_different_training():
    errors = np.array([0.018, -0.007, -0.008, -0.001, 0.002])  # a loss near 9e-5, as at 1000 epochs
    trained = np.ravel(TARGET) + errors
    assert keras_ways_agree(_experiment(trained, trained + 1e-8, trained))
    # Errors 0.1% larger: the loss 2e-3 higher, what one more Adam update changes there.
    assert not keras_ways_agree(_experiment(trained, np.ravel(TARGET) + errors * 1.001, trained))


def test_extrapolation_pairs_inputs_with_outputs_only_where_they_correspond():
    per_step = extrapolation_table(_experiment(SEQ, SEQ, SEQ))  # many_to_many: output t follows input t
    assert per_step.splitlines()[0].split()[0] == "X_test"
    e = _experiment(SEQ, SEQ, SEQ)
    e.topology, e.x_test = "many_to_one", np.array([1.0, 1.2, 1.4, 1.6, 1.8]).reshape(1, 5, 1)
    whole = extrapolation_table(e).splitlines()  # many_to_one: one vector for the whole sequence
    assert whole[0] == "X_test = one sequence (1.00, 1.20, 1.40, 1.60, 1.80), its 5 outputs:"
    assert [line.split()[:2] for line in whole[3:]] == [["output", str(i)] for i in range(5)]


@pytest.mark.slow
def test_short_run_starts_equal_and_both_losses_fall(tmp_path, capsys, monkeypatch):
    # In-process: other tests of this session may have loaded the frameworks already, and the thread
    # set-up needs a fresh process (what it does is tests/test_harness.py's and the suite's to check).
    monkeypatch.setattr("bench.suite.runtime.configure", lambda threads, keras_backend=None: None)
    out = tmp_path / "seed.csv"
    assert main(["seed", "--topology", "many_to_many", "--epochs", "100", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    refused = "refuses the seed's y: target shape (1, 5) does not match the many_to_many model's output shape (1, 5, 1)"
    assert f"keras {refused}" in stdout and f"torch {refused}" in stdout
    assert "target  keras fit  keras train_on_batch  torch adam" in stdout
    assert "X_test  keras fit" in stdout and "Keras fit vs train_on_batch: same loss" in stdout

    rows = {(r["framework"], r["method"]): r for r in csv.DictReader(out.open())}
    assert set(rows) == {("keras", "initial"), ("torch", "initial"), ("keras", "fit"),
                         ("keras", "train_on_batch"), ("torch", "adam")}
    predictions = {key: json.loads(r["predictions"]) for key, r in rows.items()}
    np.testing.assert_allclose(predictions["keras", "initial"], predictions["torch", "initial"], atol=1e-6)
    for framework, method in (("keras", "fit"), ("keras", "train_on_batch"), ("torch", "adam")):
        trained, start = rows[framework, method], rows[framework, "initial"]
        assert trained["steps"] == "100" and float(trained["train_s"]) > 0
        assert float(trained["final_loss"]) < float(start["final_loss"]) / 2, (framework, method)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["seed", "--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
        (["seed", "--epochs", "ten"], "argument --epochs: must be an integer >= 1, got 'ten'"),
        (["seed", "--seed", "-1"], "argument --seed: must be an integer >= 0, got '-1'"),
        (["seed", "--topology", "two_to_two"], "argument --topology: invalid choice: 'two_to_two'"),
        (["seed", "--topology", "attention"], "argument --topology: invalid choice: 'attention' (choose from 'one_to_one', 'many_to_one', 'many_to_many')"),
        (["seed", "--torch-optimizer", "sgd"], "argument --torch-optimizer: invalid choice: 'sgd'"),
        (["seed", "--threads", "0"], "--threads must be a positive integer, got '0'"),
    ],
)
def test_bad_options_are_one_line_and_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m bench seed: error:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_out_must_not_be_a_directory(tmp_path, capsys):
    assert main(["seed", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and err.count("\n") == 1
