"""The order effect within a block (bench/analysis/block_order.py): which arm ran first, from the blocks' start times."""

import math

import pytest

from bench.analysis import block_order
from bench.store.schema import case_key
from tests.helpers import benchmark_row


def _pair(keras_first_slower: float, blocks: int = 10):
    """A Keras/torch pair whose Keras blocks are `keras_first_slower` slower in the blocks where Keras ran first."""
    keras, torch = benchmark_row(framework="keras"), benchmark_row(framework="torch", head="broadcast")
    k_first = [i % 2 == 0 for i in range(blocks)]  # ABBA: Keras first in every other block
    rounds = {case_key(keras): [[0.002 * (1 + keras_first_slower if f else 1)] * 5 for f in k_first],
              case_key(torch): [[0.001] * 5 for _ in k_first]}
    starts = {case_key(keras): [10.0 * i + (0 if f else 1) for i, f in enumerate(k_first)],
              case_key(torch): [10.0 * i + (1 if f else 0) for i, f in enumerate(k_first)]}
    return [keras, torch], rounds, starts


def test_an_arm_slower_when_it_runs_first_shows_as_the_order_effect():
    rows, rounds, starts = _pair(0.05)
    (effect,) = block_order.order_effects(rows, rounds, starts)
    assert effect == pytest.approx(math.log(1.05))
    rows, rounds, starts = _pair(0.0)
    assert block_order.order_effects(rows, rounds, starts) == [pytest.approx(0.0)]


def test_pairs_without_start_times_or_with_one_order_only_say_nothing():
    rows, rounds, starts = _pair(0.05)
    assert block_order.order_effects(rows, rounds, {}) == []
    one_order = {k: [10.0 * i + (0 if k == case_key(rows[0]) else 1) for i in range(10)] for k in starts}
    assert block_order.order_effects(rows, rounds, one_order) == []


def test_the_summary_is_the_mean_relative_change_with_its_standard_error():
    s = block_order.summary([math.log(1.01), math.log(1.03)])
    assert s["order_effect"] == pytest.approx(math.exp((math.log(1.01) + math.log(1.03)) / 2) - 1)
    assert s["order_pairs"] == 2 and s["order_effect_se"] > 0
    assert math.isnan(block_order.summary([0.01])["order_effect"])
