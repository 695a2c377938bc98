"""npnet.layers.dense: Dense's initial weights and its backward."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import gradcheck
from npnet.layers import Dense

from finite_differences import TOLERANCE


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_backward_matches_finite_differences(activation, use_bias, rng):
    layer = Dense(4, activation=activation, use_bias=use_bias)
    layer.build(5, np.float64)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    report = gradcheck.check_layer(layer, rng.normal(size=(6, 5)))
    assert [c.name.split("/")[1] for c in report.checks] == (["kernel", "bias", "input"] if use_bias
                                                              else ["kernel", "input"])
    report.assert_passed(TOLERANCE)


# == Initial weights =================================================================================

def test_weights_are_glorot_uniform_kernels_and_zero_biases():
    model = npnet.Sequential([npnet.Input(shape=(300,)), Dense(200), Dense(3)])
    kernel, bias = model.get_weights()[:2]
    limit = np.sqrt(6 / (300 + 200))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.01 * limit    # the std of U(-a, a) is a / sqrt(3)
    np.testing.assert_array_equal(bias, 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_products_through_matmul_train_exactly_as_through_dot(dtype, monkeypatch):
    # Dense sends a product with a row per sample to np.matmul from MATMUL_MIN output entries on (np.dot
    # zeroes its output first); both hand BLAS the same call, so fit gives the same bits either way.
    from npnet.layers import dense

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(96, 7)), (rng.random((96, 3)) < 0.5).astype(float)
    results = []
    for matmul_min in (dense.MATMUL_MIN, 0):
        monkeypatch.setattr(dense, "MATMUL_MIN", matmul_min)
        npnet.utils.set_random_seed(1)
        model = npnet.Sequential([npnet.Input(shape=(7,)), Dense(9, activation="relu"), Dense(5, activation="tanh"),
                                  Dense(3, activation="sigmoid")], dtype=dtype)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, validation_split=0.25).history
        results.append((history, model.get_weights(), model.predict(x, verbose=0)))
    (history, weights, predicted), (history_1, weights_1, predicted_1) = results
    assert history == history_1
    for ours, theirs in zip(weights + [predicted], weights_1 + [predicted_1]):
        np.testing.assert_array_equal(ours, theirs)


def test_a_subclass_with_its_own_backward_calls_trains_in_fit():
    # A layer that writes its own calls joins fit's step call by call (docs/backprop.md#adding-a-layer),
    # with the signature Dense documents: backward_calls(dy, need_dx). fit's all-masks-at-once ReLU path
    # (npnet.training.relu_masks) passes more, so it must be kept for Dense's own calls.
    from functools import partial

    class ClippedGradient(Dense):
        def backward_calls(self, dy, need_dx=True):
            calls, dx = super().backward_calls(dy, need_dx)
            if self.dW is not None:   # a bound far above any gradient here: the same numbers as Dense's
                calls.append(partial(np.clip, self.dW, -1e30, 1e30, self.dW))
            return calls, dx

    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(48, 4)), (rng.random((48, 2)) < 0.5).astype(float)
    results = []
    for hidden in (Dense, ClippedGradient):
        npnet.utils.set_random_seed(2)
        model = npnet.Sequential([npnet.Input(shape=(4,)), hidden(6, activation="relu"), Dense(5, activation="relu"),
                                  Dense(2, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        results.append((model.fit(x, y, batch_size=16, epochs=2, verbose=0).history, model.get_weights()))
    (history, weights), (clipped_history, clipped_weights) = results
    assert history == clipped_history
    for ours, theirs in zip(weights, clipped_weights):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_calls_bound_again_to_the_same_arrays_are_the_last_ones_with_the_state_they_set(activation, rng):
    """npnet.calls.LastBinding: handed the same arrays as last time, forward_calls and backward_calls give
    back the calls they bound then, with the forward's x, y, activated and z (gelu keeps z) as it set them;
    other arrays get calls of their own, which compute the textbook's numbers for them."""
    layer = Dense(4, activation=activation)
    layer.build(5, np.float64)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    x_1, x_2, dy = rng.normal(size=(6, 5)), rng.normal(size=(6, 5)), rng.normal(size=(6, 4))
    forward_1, y_1 = layer.forward_calls(x_1, True)
    backward_1, dx_1 = layer.backward_calls(dy)
    state_1 = {name: vars(layer)[name] for name in ("x", "y", "activated", "z") if name in vars(layer)}
    layer.x = layer.y = layer.z = None   # as another binding might leave them
    forward_again, y_again = layer.forward_calls(x_1, True)
    assert forward_again == forward_1 and y_again is y_1
    assert all(vars(layer)[name] is value for name, value in state_1.items())
    assert layer.backward_calls(dy) == (backward_1, dx_1)
    forward_2, y_2 = layer.forward_calls(x_2, True)   # another input: calls of its own
    assert layer.x is x_2 and forward_2 != forward_1
    backward_2, dx_2 = layer.backward_calls(dy)
    assert backward_2 != backward_1
    for call in forward_2 + backward_2:
        call()
    expected = Dense(4, activation=activation)
    expected.build(5, np.float64)
    expected.set_weights(layer.get_weights())
    np.testing.assert_array_equal(y_2, expected.forward(x_2, True))
    np.testing.assert_array_equal(dx_2, expected.backward(dy))
    np.testing.assert_array_equal(layer.dW, expected.dW)
    np.testing.assert_array_equal(layer.db, expected.db)


@pytest.mark.parametrize("copy_layer", ["deepcopy", "pickle"])
def test_a_copied_layer_computes_with_its_own_weights_not_views_bound_in_the_original(copy_layer, rng):
    """The calls and views a layer bound last refer to its own arrays; its copy (here a standalone layer,
    which no model re-binds) binds its own, so new weights set in the copy are the ones it computes with."""
    import copy
    import pickle
    layer = Dense(3, use_bias=False, activation="tanh")
    layer.build(4, np.float64)
    x, dy = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    layer.forward(x, True)
    layer.backward(dy)
    copied = copy.deepcopy(layer) if copy_layer == "deepcopy" else pickle.loads(pickle.dumps(layer))
    w = rng.normal(size=(4, 3))
    copied.set_weights([w])
    y = copied.forward(x, True)
    np.testing.assert_allclose(y, np.tanh(x @ w))
    np.testing.assert_allclose(copied.backward(dy), (dy * (1 - y ** 2)) @ w.T)


def test_calls_bound_for_a_block_of_rows_are_not_handed_back_for_the_whole_batch(rng):
    layer = Dense(3, activation="tanh")
    layer.build(4, np.float64)
    x1, dy = np.hstack([rng.normal(size=(6, 4)), np.ones((6, 1))]), rng.normal(size=(6, 3))
    layer.forward_calls(x1, True)
    block, _ = layer.backward_calls(dy, need_dx=False, rows=slice(0, 3), weights=False)
    whole, _ = layer.backward_calls(dy, need_dx=False, weights=False)
    assert whole != block
