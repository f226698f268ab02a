"""`python -m bench seed`: the seed's three experiments, trained in Keras and PyTorch side by side.

The seed fits three tiny LSTMs (one_to_one, many_to_one, many_to_many) to the
sequence 0.0, 0.2, ..., 0.8 with Adam and MSE, 1000 epochs of one batch, and
prints the predictions. Here every topology is trained three times from the
same weights (Keras's seeded initialisation, copied into the torch model):

  keras fit             the seed's way: fit(epochs=N) on one batch, N epochs of one step
  keras train_on_batch  the same N updates as N train_on_batch calls, no per-epoch set-up
  torch adam            N steps of the PyTorch twin (--torch-optimizer keras_adam: Keras's
                        update rule, impls/optim.py); the CSV's method is the optimizer

Keras uses the seed's TimeDistributed(Dense) head, torch its usual Linear on
(batch, time, units): the same numbers (tests/test_parity.py). Training times
cover the training loop only, as a user sees it: the Keras times include the
one-off tracing of the train function (an untimed warm-up would itself be a
training step). Rows (one "initial" row per framework, then one per run) go
to results/seed.csv; `predictions` are on the training inputs, and
`final_loss` is their MSE, computed the same way for every run.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from impls import ModelSpec
from impls.contract import Runner, make_runner
from impls.spec import KERAS_ADAM_LEARNING_RATE

from .command_args import UsageError, add_results_arguments, add_threads_argument, add_topology_argument, results_to_write
from ..suite.options import LIMITS
from ..store.markdown import text_table
from ..store.schema import COMMAND_FILES
from ..analysis.parity import max_abs_diff
from ..analysis.seed_data import seed_data
from ..suite import runtime
from ..store.command_rows import save_rows

COLUMNS = ["topology", "framework", "method", "steps", "final_loss", "max_abs_error", "train_s", "predictions"]

SEED_TOPOLOGIES = ("one_to_one", "many_to_one", "many_to_many")  # the seed trains no attention model
SEED_LEARNING_RATE = KERAS_ADAM_LEARNING_RATE  # what the seed's optimizer='adam' gets
LEARNED_WITHIN = 0.05  # a topology is learned when every prediction is this close to its target

# How far apart the two Keras runs' final losses may be. They make the same
# updates on the same batch from the same weights; only fit's shuffling of
# one_to_one's 5 samples inside the batch reorders float32 sums. Measured at
# 1000 epochs, seed 0, in two runs (fit's shuffle is not seeded): one_to_one
# 2.1e-11 and 5.1e-11 apart on a loss of 9.1e-5 (under 6e-7 relative), the
# other two bit-equal. One Adam update at that point still moves the loss by
# about 2e-3 relative (one_to_one, many_to_many), so 1e-4 relative is over
# 150x the float noise and 20x below one update more or fewer.
# Below about 1e-13 a loss is rounding (float32 predictions near 1 are spaced
# about 1e-7 apart, squared), where a relative bound means nothing.
KERAS_WAYS_REL_TOL, KERAS_WAYS_ABS_TOL = 1e-4, 1e-13


def _int_at_least(minimum: int, limit: str | None = None):
    """An argparse type: an integer of at least `minimum`, and at most LIMITS[limit] (bench/suite/options.py)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        if limit and value > LIMITS[limit]:
            raise argparse.ArgumentTypeError(f"must be at most {LIMITS[limit]} (bench/suite/options.py LIMITS), got {text!r}")
        return value

    return parse


def add_arguments(parser) -> None:
    add_topology_argument(parser, choices=SEED_TOPOLOGIES)
    parser.add_argument("--epochs", type=_int_at_least(1, "epochs"), default=1000,
                        help="epochs, one step each (default: %(default)s, the seed's)")
    parser.add_argument("--seed", type=_int_at_least(0), default=0,
                        help="weight-initialisation seed (default: %(default)s)")
    parser.add_argument("--torch-optimizer", choices=("adam", "keras_adam"), default="adam",
                        help="torch.optim.Adam with Keras's lr and epsilon, or Keras's exact "
                             "update rule (default: %(default)s)")
    add_threads_argument(parser)
    add_results_arguments(parser, writes=True)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"CSV to write (default: {COMMAND_FILES['seed']} in the result set; it holds training times)")


@dataclass
class Run:
    """One model's outcome on the seed's data, after `steps` updates."""

    framework: str
    method: str
    steps: int
    train_s: float | None
    predictions: np.ndarray  # on the training inputs, in the target's shape
    test_predictions: np.ndarray  # on the seed's X_test

    @property
    def label(self) -> str:
        return f"{self.framework} {self.method}"

    def loss(self, target) -> float:
        return float(np.mean((self.predictions.astype(np.float64) - target) ** 2))

    def max_abs_error(self, target) -> float:
        return float(np.max(np.abs(self.predictions.astype(np.float64) - target)))


@dataclass
class Experiment:
    """One topology: the data, both frameworks before training, and the three trained runs."""

    topology: str
    target: np.ndarray
    x_test: np.ndarray
    initial: list[Run]  # Keras, torch
    keras_fit: Run
    keras_steps: Run
    torch: Run

    @property
    def trained(self) -> list[Run]:
        return [self.keras_fit, self.keras_steps, self.torch]


def _predict(runner, x) -> np.ndarray:
    return runner.forward(runner.put(x)[0])


def _outcome(runner, method, steps, train_s, x, x_test) -> Run:
    return Run(runner.framework, method, steps, train_s, _predict(runner, x), _predict(runner, x_test))


def refusal(runner, x, y) -> str:
    """The message with which `runner` refuses the target `y` (it must refuse it)."""
    try:
        runner.put(x, y)
    except ValueError as e:
        return str(e)
    raise RuntimeError(f"{runner.framework} accepted a target of shape {y.shape}; it must refuse it")


def training_target(spec: ModelSpec, x, seed_y, runners) -> np.ndarray:
    """The seed's y if it has the model's output shape; else each runner's refusal is shown and y reshaped."""
    shape = spec.output_shape(len(seed_y))
    if seed_y.shape == shape:
        return seed_y
    for runner in runners:
        print(f"  {runner.framework} refuses the seed's y: {refusal(runner, x, seed_y)}")
    print(f"  training on y reshaped to {shape}")
    return seed_y.reshape(shape)


def fit_the_seeds_way(runner: Runner, x, y, epochs: int, batch: int) -> float:
    with runner.scope():
        start = time.perf_counter()
        runner.model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
        return time.perf_counter() - start


def step_loop(runner, x, y, steps: int) -> float:
    """`steps` optimizer steps on the one batch (x, y), already on the device."""
    start = time.perf_counter()
    for _ in range(steps):
        runner.train_step(x, y)
    return time.perf_counter() - start


def train_topology(topology: str, epochs: int, seed: int, torch_optimizer: str) -> Experiment:
    """The seed's experiment for `topology`, three ways from one set of weights; prints the set-up."""
    from impls import copy_weights  # late: loads Keras and torch, after runtime.configure set their threads

    spec = ModelSpec.seed(topology)
    x, seed_y, x_test, batch = seed_data(topology)
    print(f"{topology}: X {x.shape}, batch {batch}, {epochs} epochs, Adam lr {SEED_LEARNING_RATE:g}, "
          f"MSE, weight seed {seed}", flush=True)
    keras_fit = make_runner("keras", spec, None, learning_rate=SEED_LEARNING_RATE, seed=seed)
    keras_steps = make_runner("keras", spec, None, learning_rate=SEED_LEARNING_RATE)  # a fresh optimizer ...
    keras_steps.model.set_weights(keras_fit.model.get_weights())  # ... on the same weights
    torch_runner = make_runner("torch", spec, None, optimizer=torch_optimizer, learning_rate=SEED_LEARNING_RATE)
    copy_weights(keras_fit.model, torch_runner.model)
    y = training_target(spec, x, seed_y, (keras_fit, torch_runner))

    initial = [_outcome(r, "initial", 0, None, x, x_test) for r in (keras_fit, torch_runner)]
    print(f"  start: Keras and torch outputs differ by at most "
          f"{max_abs_diff(initial[0].predictions, initial[1].predictions):.1e}", flush=True)
    fit_s = fit_the_seeds_way(keras_fit, x, y, epochs, batch)
    keras_steps_s = step_loop(keras_steps, *keras_steps.put(x, y), epochs)
    torch_s = step_loop(torch_runner, *torch_runner.put(x, y), epochs)
    return Experiment(
        topology, y, x_test, initial,
        keras_fit=_outcome(keras_fit, "fit", epochs, fit_s, x, x_test),
        keras_steps=_outcome(keras_steps, "train_on_batch", epochs, keras_steps_s, x, x_test),
        torch=_outcome(torch_runner, torch_optimizer, epochs, torch_s, x, x_test),
    )


def _table(headers, rows) -> str:
    """Right-aligned columns, the seed's numbers and their row labels alike."""
    return "\n".join(text_table(headers, rows, align=">" * len(headers)))


def _value_rows(*columns) -> list[list[str]]:
    """The seed's '%.2f', one row per element, one column per array."""
    return [["%.2f" % v for v in values] for values in zip(*(c.ravel() for c in columns))]


def results_table(e: Experiment) -> str:
    """The seed's printout, a column per run: each target and prediction, then loss, error, time."""
    runs = e.trained
    rows = _value_rows(e.target, *(r.predictions for r in runs))
    rows.append(["final loss", *(f"{r.loss(e.target):.2e}" for r in runs)])
    rows.append(["max |error|", *(f"{r.max_abs_error(e.target):.3f}" for r in runs)])
    rows.append(["train s", *(f"{r.train_s:.2f}" for r in runs)])
    return _table(["target", *(r.label for r in runs)], rows)


def extrapolation_table(e: Experiment) -> str:
    """Predictions on the seed's X_test: inputs beyond the training range.

    one_to_one predicts per input and many_to_many per step, so a row pairs an
    input with its prediction; many_to_one reads the whole sequence and answers
    with one vector, so its rows are that vector's elements.
    """
    runs = e.trained
    predictions = [r.test_predictions for r in runs]
    if e.topology != "many_to_one":
        return _table(["X_test", *(r.label for r in runs)], _value_rows(e.x_test, *predictions))
    values = _value_rows(*predictions)
    rows = [[f"output {i}", *row] for i, row in enumerate(values)]
    sequence = ", ".join("%.2f" % v for v in e.x_test.ravel())
    return f"X_test = one sequence ({sequence}), its {len(rows)} outputs:\n" + _table(
        ["", *(r.label for r in runs)], rows)


def learning_verdict(e: Experiment) -> str:
    off = [r for r in e.trained if r.max_abs_error(e.target) > LEARNED_WITHIN]
    if not off:
        return f"learned: every prediction within {LEARNED_WITHIN} of its target"
    worst = ", ".join(f"{r.label} {r.max_abs_error(e.target):.3f}" for r in off)
    return f"NOT learned: a prediction more than {LEARNED_WITHIN} off its target ({worst})"


def keras_ways_agree(e: Experiment) -> bool:
    fit_loss, steps_loss = e.keras_fit.loss(e.target), e.keras_steps.loss(e.target)
    return math.isclose(fit_loss, steps_loss, rel_tol=KERAS_WAYS_REL_TOL, abs_tol=KERAS_WAYS_ABS_TOL)


def keras_ways_verdict(e: Experiment) -> str:
    gap = abs(e.keras_fit.loss(e.target) - e.keras_steps.loss(e.target))
    agreement = "same loss" if keras_ways_agree(e) else "DIFFERENT losses"
    slowdown = e.keras_fit.train_s / e.keras_steps.train_s
    return (
        f"Keras fit vs train_on_batch: {agreement} ({gap:.1e} apart, tolerance "
        f"{KERAS_WAYS_REL_TOL:.0e} relative); fit took {slowdown:.1f}x as long"
    )


def csv_rows(e: Experiment) -> list[dict]:
    return [
        dict(topology=e.topology, framework=r.framework, method=r.method, steps=r.steps,
             final_loss=r.loss(e.target), max_abs_error=r.max_abs_error(e.target),
             train_s=r.train_s, predictions=[float(v) for v in r.predictions.ravel()])
        for r in e.initial + e.trained
    ]


def run(args) -> int:
    topologies = (args.topology,) if args.topology else SEED_TOPOLOGIES
    args.out = args.out or results_to_write(args) / COMMAND_FILES["seed"]
    if args.out.is_dir():
        raise UsageError(f"argument --out: {args.out} is a directory; give a CSV file name")
    runtime.configure(args.threads)
    runtime.apply_thread_limits(args.threads)
    experiments = []
    for topology in topologies:
        e = train_topology(topology, args.epochs, args.seed, args.torch_optimizer)
        print(results_table(e), extrapolation_table(e), sep="\n\n")
        print(f"  {learning_verdict(e)}\n  {keras_ways_verdict(e)}\n", flush=True)
        experiments.append(e)
    save_rows(args.out, [row for e in experiments for row in csv_rows(e)], COLUMNS, group=("topology",))
    print(f"wrote {args.out}")
    disagreeing = [e.topology for e in experiments if not keras_ways_agree(e)]
    if disagreeing:
        print(f"Keras fit and train_on_batch ended at different losses for: {', '.join(disagreeing)}")
        return 1
    return 0
