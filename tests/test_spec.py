"""ModelSpec: the seed's sizes, seeded data, and clear errors for bad input."""

import re

import numpy as np
import pytest

from impls import SEED_BATCH, TOPOLOGIES, ModelSpec
from impls.spec import SIZE_FIELDS


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_every_topology_has_seed_sizes_a_batch_and_the_fields_it_uses(topology):
    spec = ModelSpec.seed(topology)
    assert spec.topology == topology
    assert isinstance(SEED_BATCH[topology], int) and SEED_BATCH[topology] >= 1
    assert set(spec.used_fields()) <= set(SIZE_FIELDS) and "timesteps" in spec.used_fields()
    assert list(spec.sizes()) == list(spec.used_fields())
    assert all(isinstance(v, int) and v >= 1 for v in spec.sizes().values())
    assert spec.lstm_inputs in spec.sizes().values()  # the LSTM's input width is one of its sizes
    assert len(spec.output_shape(2)) == (3 if spec.has_sequence_head else 2)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_every_topology_builds_in_both_frameworks_with_the_spec_shapes(topology):
    import torch

    from impls import build_keras, build_torch

    spec, batch = ModelSpec.seed(topology), 2
    x = spec.example_inputs(batch)
    keras_out = np.asarray(build_keras(spec)(x))
    with torch.no_grad():
        torch_out = build_torch(spec)(torch.from_numpy(x)).numpy()
    assert keras_out.shape == torch_out.shape == spec.output_shape(batch)


def test_every_topology_is_in_the_suite():
    from bench.suite.cases import PROFILES, TD_TAX_TOPOLOGIES, all_cases

    for profile in PROFILES:
        # tdtax times per-step heads on the LSTM topologies that have one
        expected = set(TD_TAX_TOPOLOGIES) if profile == "tdtax" else set(TOPOLOGIES)
        assert {c.topology for c in all_cases(profile, "both")} == expected, profile
    assert all(ModelSpec.seed(t).has_sequence_head for t in TD_TAX_TOPOLOGIES)


@pytest.mark.parametrize(
    "topology, sizes",
    [
        ("one_to_one", dict(timesteps=1, features=1, units=5, outputs=1)),
        ("many_to_one", dict(timesteps=5, features=1, units=5, outputs=5)),
        ("many_to_many", dict(timesteps=5, features=1, units=5, outputs=1)),
        ("one_to_many", dict(timesteps=5, features=1, units=5, outputs=1)),
    ],
)
def test_seed_sizes(topology, sizes):
    spec = ModelSpec.seed(topology)
    assert {k: getattr(spec, k) for k in sizes} == sizes


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_example_data_shapes_and_determinism(topology):
    spec = ModelSpec.seed(topology)
    batch = 3
    x, y = spec.example_inputs(batch, seed=7), spec.example_targets(batch, seed=7)
    assert x.shape == spec.input_shape(batch) and y.shape == spec.output_shape(batch)
    assert np.array_equal(x, spec.example_inputs(batch, seed=7))
    assert not np.array_equal(x, spec.example_inputs(batch, seed=8))
    if topology == "attention":
        assert x.dtype == np.int32 and x.min() >= 0 and x.max() < spec.vocab_size
        assert np.allclose(y.sum(axis=-1), 1.0)  # one-hot rows
    else:
        assert x.dtype == np.float32 and y.dtype == np.float32


@pytest.mark.parametrize("field", ["timesteps", "features", "units", "outputs", "vocab_size", "embedding_dim", "dense_units"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True])
def test_bad_size_names_the_field(field, bad):
    with pytest.raises(ValueError, match=rf"^{field} must be a positive integer, got"):
        ModelSpec("many_to_many", **{field: bad})


def test_unknown_topology_lists_the_valid_names():
    with pytest.raises(ValueError, match=re.escape(f"topology must be one of {', '.join(TOPOLOGIES)}; got 'two_to_two'")):
        ModelSpec("two_to_two")
    with pytest.raises(ValueError, match="topology must be one of"):
        ModelSpec.seed("two_to_two")


def test_one_to_one_has_one_timestep():
    with pytest.raises(ValueError, match="timesteps must be 1 for one_to_one"):
        ModelSpec("one_to_one", timesteps=5)


def test_seed_many_to_many_target_is_refused_with_both_shapes():
    spec = ModelSpec.seed("many_to_many")
    seq = np.arange(5, dtype=np.float32) / 5
    with pytest.raises(ValueError, match=r"target shape \(1, 5\) does not match .* output shape \(1, 5, 1\)"):
        spec.check_targets(seq.reshape(1, 5))
    spec.check_targets(seq.reshape(1, 5, 1))  # the shape the seed should have passed


def test_bad_input_shape_is_refused():
    spec = ModelSpec.seed("many_to_one")
    with pytest.raises(ValueError, match=r"input shape \(1, 5\) does not match"):
        spec.check_inputs(np.zeros((1, 5), np.float32))


def test_seed_batches_cover_every_topology():
    assert set(SEED_BATCH) == set(TOPOLOGIES)


def test_one_to_many_takes_one_vector_and_gives_a_sequence():
    spec = ModelSpec("one_to_many", timesteps=7, features=3, outputs=2)
    assert spec.example_inputs(4).shape == (4, 3) and spec.example_targets(4).shape == (4, 7, 2)
    spec.check_batch(spec.example_inputs(4), spec.example_targets(4))
    with pytest.raises(ValueError, match=r"input shape \(4, 7, 3\) does not match the one_to_many model's input shape \(4, 3\)"):
        spec.check_inputs(np.zeros((4, 7, 3), np.float32))  # a sequence is not its input
    with pytest.raises(ValueError, match=r"target shape \(4, 2\) does not match the one_to_many model's output shape \(4, 7, 2\)"):
        spec.check_targets(np.zeros((4, 2), np.float32))
