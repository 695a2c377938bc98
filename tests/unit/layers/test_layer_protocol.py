"""npnet.layers: the protocol (registry, Activation layer, trainable-first buffer) and frozen layers (issue 11)."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import gradcheck, layers, testing
from npnet.layers import Activation, Dense
from npnet.models import load_model


def data(n=40, features=4, labels=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, features)), (rng.random((n, labels)) < 0.5).astype(np.float64)


def tutorial_like(frozen: int | None = None, compile_model: bool = True):
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(6, activation="relu"), Dense(5, activation="relu"),
                              Dense(3, activation="sigmoid")])
    if frozen is not None:
        model.layers[frozen].trainable = False
    if compile_model:
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


# -- trainable = False (issue 11) ------------------------------------------------------------------

def test_a_layer_frozen_before_compile_never_changes_and_the_others_train():
    model = tutorial_like(frozen=1)
    before = model.get_weights()
    model.fit(*data(), batch_size=8, epochs=3, verbose=0)
    after = model.get_weights()
    for index in (2, 3):                    # the frozen middle layer's kernel and bias: bit for bit
        np.testing.assert_array_equal(after[index], before[index])
    for index in (0, 1, 4, 5):
        assert not np.array_equal(after[index], before[index])


def test_frozen_weights_are_non_trainable_and_lie_after_the_trainable_slice():
    model = tutorial_like(frozen=1)
    buffer = model.parameters
    frozen = model.layers[1]
    assert [w.shape for w in model.trainable_weights] == [(4, 6), (6,), (5, 3), (3,)]
    assert [w.shape for w in model.non_trainable_weights] == [(6, 5), (5,)]
    assert buffer.trainable_size == 4 * 6 + 6 + 5 * 3 + 3
    trainable_slice = buffer.values[:buffer.trainable_size]
    assert all(np.shares_memory(w, trainable_slice) for w in model.trainable_weights)
    assert not any(np.shares_memory(w, trainable_slice) for w in model.non_trainable_weights)
    assert frozen.dW is None and frozen.db is None
    # get_weights stays in Keras's order whatever the layout
    assert [w.shape for w in model.get_weights()] == [(4, 6), (6,), (6, 5), (5,), (5, 3), (3,)]
    assert [w.shape for w in model.weights] == [(4, 6), (6,), (6, 5), (5,), (5, 3), (3,)]


def test_freezing_after_the_model_is_built_takes_effect_at_compile_and_keeps_the_weights():
    model = tutorial_like(compile_model=False)
    weights = model.get_weights()
    model.layers[0].trainable = False
    model.compile(optimizer="adam", loss="binary_crossentropy")
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    model.fit(*data(), batch_size=8, epochs=2, verbose=0)
    np.testing.assert_array_equal(model.get_weights()[0], weights[0])


def test_summary_counts_trainable_and_non_trainable_params_as_keras():
    lines = []
    tutorial_like(frozen=1).summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 83 (332.00 B)" in text               # (4*6+6) + (6*5+5) + (5*3+3), 4 bytes each
    assert "Trainable params: 48 (192.00 B)" in text
    assert "Non-trainable params: 35 (140.00 B)" in text


def test_a_frozen_layer_is_saved_frozen(tmp_path):
    model = tutorial_like(frozen=0)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert [layer.trainable for layer in loaded.layers] == [False, True, True]
    before = loaded.get_weights()[0]
    loaded.fit(*data(), batch_size=8, epochs=1, verbose=0)
    np.testing.assert_array_equal(loaded.get_weights()[0], before)


def test_gradients_of_a_frozen_model_cover_the_trainable_weights_only(float64):
    model = tutorial_like(frozen=2)
    _, gradients = model.loss_and_gradients(*data())
    assert [g.shape for g in gradients] == [(4, 6), (6,), (6, 5), (5,)]
    gradcheck.check_model(model, *data(n=6)).assert_passed(1e-6)


# -- the registry ------------------------------------------------------------------------------

def test_the_registry_names_layers_by_their_keras_class_names():
    assert {"Dense", "Activation"} <= set(layers.names())
    assert layers.get("Dense") is Dense
    with pytest.raises(ValueError, match="unknown layer class 'Conv2D'; expected one of"):
        layers.get("Conv2D")
    with pytest.raises(TypeError, match="only npnet.layers.Layer subclasses"):
        layers.register(dict)


@pytest.mark.parametrize("layer", [Dense(3, activation="tanh", use_bias=False, name="d"),
                                   Activation("relu", name="a"), Dense(2, trainable=False, name="f")])
def test_serialize_and_deserialize_round_trip_every_registered_layer(layer):
    data_ = layers.serialize(layer)
    assert data_["class_name"] == type(layer).__name__
    again = layers.deserialize(data_)
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def test_deserialize_refuses_keys_get_config_never_writes():
    with pytest.raises(ValueError, match="unknown key 'kernel_initializer' in the layer config"):
        layers.deserialize({"class_name": "Dense", "config": {"units": 2, "kernel_initializer": "zeros"}})
    with pytest.raises(ValueError, match="unknown key 'bogus'"):
        layers.deserialize({"class_name": "Activation", "config": {"activation": "relu", "bogus": 1}})


# -- the Activation layer ----------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_the_activation_layer_passes_its_gradient_check(activation, float64):
    x = np.random.default_rng(1).normal(size=(5, 4))
    x[np.abs(x) < 1e-3] = 0.5                                   # away from relu's kink
    gradcheck.check_layer(Activation(activation), x).assert_passed(1e-7)


def test_dense_then_a_sigmoid_activation_layer_trains_as_a_sigmoid_dense():
    """The fused loss starts from the logits in both: same losses and weights, bit for bit."""
    x, y = data()
    histories, weights = [], []
    for stack in ([Dense(3, activation="sigmoid")], [Dense(3), Activation("sigmoid")]):
        npnet.utils.set_random_seed(0)
        model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), *stack])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        assert model.training_loss()[1]                           # fused with the sigmoid
        histories.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0).history)
        weights.append(model.get_weights())
    assert histories[0] == histories[1]
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_model_of_dense_and_activation_layers_matches_keras(keras):
    from npnet import testing
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5), Activation("tanh"), Dense(3),
                              Activation("sigmoid")], dtype="float64")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    testing.assert_matches_keras(model, *data())


def test_fit_gives_a_layer_that_wants_a_ones_column_its_input_with_one():
    seen = []

    class Recording(Dense):
        def forward(self, x, training=False, activate=True, ones_column=False):
            seen.append((x.shape[1], bool(np.all(x[:, -1] == 1))))
            return super().forward(x, training, activate, ones_column)

    model = npnet.Sequential([npnet.Input(shape=(6,)), Recording(4, activation="relu"),
                              Recording(3, activation="tanh"), Recording(2, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(8, 6)), np.ones((8, 2))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # the data and the ReLU layer's output carry the ones; tanh(1) != 1, so its output does not
    assert seen[:3] == [(7, True), (5, True), (3, False)]
    seen.clear()
    model.train_on_batch(x, y)   # one batch: the textbook x @ W + b
    assert [columns for columns, _ in seen] == [6, 4, 3]


def test_freezing_after_compile_is_refused_until_compile_runs_again():
    model = tutorial_like()
    model.layers[0].trainable = False
    with pytest.raises(ValueError, match=r"trainable flag changed after compile\(\); call compile\(\) again"):
        model.fit(*data(), verbose=0)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(*data(), verbose=0)


def test_a_frozen_model_trains_as_its_keras_twin(keras):
    """The twin's layer is frozen too (trainable travels in the config); every step agrees with Keras."""
    from npnet import interop, testing
    model = tutorial_like(frozen=1, compile_model=False)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert not interop.to_keras(model).layers[1].trainable
    testing.assert_matches_keras(model, *data())
    np.testing.assert_array_equal(model.get_weights()[2], tutorial_like(frozen=1).get_weights()[2])


def test_a_trace_records_a_model_ending_in_an_activation_layer(keras):
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(3), Activation("sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    trace = model.trace(*data())
    assert trace.fused and trace.layers[1].arrays["dy"] is None      # the loss reads the Activation's input
    assert max(testing.compare_trace_with_keras(trace).values()) <= 1e-5


class Softplus(npnet.activations.Activation):
    """y = log(1 + e^z); dz = dy * sigmoid(z): a derivative wanted from z, as gelu's and silu's are."""

    name = "test_softplus"
    needs_input = True

    def forward(self, z, out):
        return np.logaddexp(0, z, out=out)

    def backward(self, y, dy, out, z=None):
        return np.multiply(dy, 1 / (1 + np.exp(-z)), out=out)


@pytest.mark.parametrize("layer", [lambda: Dense(3, activation=Softplus()), lambda: Activation(Softplus())])
def test_an_activation_that_needs_its_input_gets_it_in_both_layers(layer, float64):
    gradcheck.check_layer(layer(), np.random.default_rng(2).normal(size=(5, 4))).assert_passed(1e-7)


class PenalizedScale(Dense):
    """A Dense whose own ``regularization_loss`` (no Weight regularizer) adds c * sum(W^2); backward adds 2 c W."""

    c = 0.5

    def forward(self, x, training=False, **options):
        return super().forward(x, training, **options)

    def backward(self, dy, need_dx=True):
        dx = super().backward(dy, need_dx)
        if self.dW is not None:
            self.dW += 2 * self.c * self.W
        return dx

    def regularization_loss(self):
        return float(self.c * np.sum(self.W ** 2))


def test_a_layer_s_own_regularization_loss_is_in_the_reported_loss():
    # Layer.regularization_loss is the protocol for a layer's penalty: a layer that overrides it without
    # any Weight regularizer must still have it added, in fit, train_on_batch and evaluate alike.
    x, y = data()
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), PenalizedScale(3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    penalty = model.layers[0].regularization_loss()
    data_loss = float(model.loss(y, model.predict(x, verbose=0)))
    assert penalty > 0.1
    # float32: the fused loss (from the logits) and model.loss on the probabilities differ by a few float32
    # roundings of values near 1 (u = 6e-8 each); the penalty is the one dropped (> 0.1) or not: rel 1e-6.
    assert type("OwnPenalty", (layers.Layer,), {"regularization_loss": lambda self: 1.0})().penalized
    assert model.evaluate(x, y, batch_size=len(x), verbose=0) == pytest.approx(data_loss + penalty, rel=1e-6)
    fitted = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history["loss"][0]
    assert fitted == pytest.approx(data_loss + penalty, rel=1e-6)   # the step before fit's one update
    penalty = model.layers[0].regularization_loss()
    data_loss = float(model.loss(y, model.predict(x, verbose=0)))
    assert model.train_on_batch(x, y) == pytest.approx(data_loss + penalty, rel=1e-6)
