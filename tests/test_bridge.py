"""The weight bridge and the training paths' input checks."""

import numpy as np
import pytest

from impls import ModelSpec, build_keras, build_torch, copy_weights, weight_pairs
from impls.contract import runner_class

KerasRunner, TorchRunner = runner_class("keras"), runner_class("torch")  # the per-model parts, through the registry


def test_copy_weights_refuses_what_it_cannot_map():
    spec = ModelSpec.seed("many_to_many")
    km, tm = build_keras(spec), build_torch(spec)
    with pytest.raises(TypeError, match="copy_weights copies between a keras.Model and a torch.nn.Module"):
        copy_weights(km, build_keras(spec))
    with pytest.raises(TypeError, match="copy_weights"):
        copy_weights(tm, tm)
    with pytest.raises(ValueError, match=r"lstm.kernel: Keras shape \(1, 20\) does not match torch shape \(28, 1\)"):
        copy_weights(km, build_torch(spec.replace(units=7)))


def test_native_torch_bias_folds_into_keras_bias():
    """torch's two biases sum into Keras's one; copying back zeroes bias_hh."""
    import torch

    spec = ModelSpec.seed("many_to_one")
    native = build_torch(spec, torch_bias="native", seed=3)
    km = build_keras(spec)
    copy_weights(native, km)
    expected = (native.lstm.bias_ih_l0 + native.lstm.bias_hh_l0).detach().numpy()
    assert np.allclose(km.get_layer("lstm").cell.bias.numpy(), expected)
    x = torch.from_numpy(spec.example_inputs(2))
    with torch.no_grad():
        assert np.abs(native(x).numpy() - np.asarray(km(x.numpy()))).max() < 1e-5
    copy_weights(km, native)
    assert not native.lstm.bias_hh_l0.any() and native.lstm.bias_hh_l0.requires_grad


def test_keras_compatible_torch_freezes_bias_hh():
    tm = build_torch(ModelSpec.seed("attention"))
    frozen = [n for n, p in tm.named_parameters() if not p.requires_grad]
    assert frozen == ["lstm.bias_hh_l0", "lstm.bias_hh_l0_reverse"]
    assert all(not p.any() for n, p in tm.named_parameters() if n in frozen)


def test_every_weight_is_paired_once():
    spec = ModelSpec.seed("attention")
    km, tm = build_keras(spec, "dense3d"), build_torch(spec, "loop")
    pairs = weight_pairs(km, tm)
    assert len({id(p.keras) for p in pairs}) == len(km.trainable_variables) == len(pairs)
    trainable = {id(p) for p in tm.parameters() if p.requires_grad}
    assert {id(p.torch) for p in pairs} == trainable


def test_bad_head_and_bias_names_are_refused():
    spec = ModelSpec.seed("many_to_many")
    with pytest.raises(ValueError, match="head must be one of timedistributed, dense3d for keras; got 'loop'"):
        build_keras(spec, head="loop")
    with pytest.raises(ValueError, match="head must be one of loop, broadcast for torch"):
        build_torch(spec, head="timedistributed")
    with pytest.raises(ValueError, match="torch_bias must be one of keras, native"):
        build_torch(spec, torch_bias="both")


@pytest.mark.parametrize("Runner", [KerasRunner, TorchRunner])
def test_training_refuses_the_seeds_many_to_many_target(Runner):
    spec = ModelSpec.seed("many_to_many")
    x = (np.arange(5, dtype=np.float32) / 5).reshape(1, 5, 1)
    runner = Runner(spec, "timedistributed" if Runner is KerasRunner else "loop")
    with pytest.raises(ValueError, match=r"target shape \(1, 5\) does not match the many_to_many model's output shape \(1, 5, 1\)"):
        runner.put(x, x.reshape(1, 5))
    loss = runner.train_step(*runner.put(x, x))  # (1, 5, 1) trains
    assert np.isfinite(loss)


def test_torch_mse_never_broadcasts():
    import torch

    from impls.torch_losses import mean_squared_error

    with pytest.raises(ValueError, match=r"target shape \(1, 5\) does not match output shape \(1, 5, 1\)"):
        mean_squared_error(torch.zeros(1, 5, 1), torch.zeros(1, 5))
