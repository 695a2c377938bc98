"""npnet.params: a model's parameters and gradients are views into one flat buffer each."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import npnet
from npnet import activations

from small_models import data, small_model


def assert_views_into_the_buffers(model):
    buffer = model._params
    assert buffer.values.shape == buffer.grads.shape == (model.count_params(),)
    for layer in model.layers:
        for value, grad in ((layer.kernel, layer.dW), (layer.bias, layer.db)):
            assert np.shares_memory(value, buffer.values) and np.shares_memory(grad, buffer.grads)


def test_parameters_and_gradients_stay_views_into_one_buffer_each(tmp_path):
    model = small_model(hidden=(5, 4))
    x, y = data(n=5)
    assert_views_into_the_buffers(model)
    _, grads = model.loss_and_gradients(x, y)
    np.testing.assert_array_equal(np.concatenate([g.ravel() for g in grads]), model._params.grads)
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in model.get_weights()]), model._params.values)
    model.fit(x, y, epochs=2, verbose=0)
    assert_views_into_the_buffers(model)
    model.set_weights(model.get_weights())
    assert_views_into_the_buffers(model)
    model.save_weights(tmp_path / "w.npz")
    model.load_weights(tmp_path / "w.npz")
    assert_views_into_the_buffers(model)
    model.save(tmp_path / "m.npz")
    assert_views_into_the_buffers(npnet.models.load_model(tmp_path / "m.npz"))


@pytest.mark.parametrize("duplicate", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
def test_a_copied_model_keeps_its_views_and_trains_exactly_as_the_original(duplicate):
    # Copies each view as a detached array unless the model re-binds them, and
    # copies the sigmoid unless activations stay singletons (the fused output then
    # silently switches to clipped probabilities): both changed the next update.
    model = small_model(hidden=(5, 4))
    x, y = data(n=8)
    model.fit(x, y, epochs=2, verbose=0)
    twin = duplicate(model)
    assert_views_into_the_buffers(twin)
    assert twin.layers[-1].activation is activations.sigmoid
    for m in (model, twin):
        m.fit(x, y, epochs=2, verbose=0, shuffle=False)
    for ours, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    # Adam's saved slots are rows of one [m; v] array: a copy that detached them would save stale moments
    ours, theirs = model.optimizer.get_state(), twin.optimizer.get_state()
    assert ours.keys() == theirs.keys() and ours["iterations"] == 4   # 2 + 2 epochs of one batch
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
