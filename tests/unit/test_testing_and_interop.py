"""npnet.testing (assert_matches_keras, the keras_parity fixture) and npnet.interop (to_keras/from_keras).

assert_matches_keras must pass on npnet's own models and catch deliberately
broken ones, naming what diverges.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import npnet
from npnet import interop, optimizers, testing
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy
from npnet.optimizers import SGD, Adam

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 6))
Y = (RNG.random((64, 3)) > 0.5).astype(float)


def model_with(dtype="float32", layer=Dense, optimizer=None, loss="binary_crossentropy", seed=0):
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([npnet.Input(shape=(6,)), layer(16, activation="relu"), Dense(8, activation="tanh"),
                              Dense(3, activation="sigmoid")], dtype=dtype)
    model.compile(optimizer=optimizer or Adam(), loss=loss, metrics=["accuracy"])
    return model


class WrongBiasGradient(Dense):
    def backward(self, dy, need_dx=True):
        dx = super().backward(dy, need_dx)
        self.db *= 1.01          # a 1% error in one bias gradient
        return dx


class PaperAdam(Adam):
    """Kingma & Ba's form: w -= lr * m_hat / (sqrt(v_hat) + eps)."""

    def update_step(self, grad, param, slots, learning_rate):
        t = self.iterations + 1
        m, v = slots["momentum"], slots["velocity"]
        m += (grad - m) * (1 - self.beta_1)
        v += (grad * grad - v) * (1 - self.beta_2)
        m_hat, v_hat = m / (1 - self.beta_1 ** t), v / (1 - self.beta_2 ** t)
        param -= (self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)).astype(param.dtype)


class UnclippedCrossentropy(BinaryCrossentropy):
    def __call__(self, y_true, y_pred):
        y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.mean(-(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", [Adam, lambda: SGD(0.1, momentum=0.9)], ids=["adam", "sgd-momentum"])
def test_npnet_models_match_keras(keras, dtype, optimizer):
    testing.assert_matches_keras(model_with(dtype, optimizer=optimizer()), X, Y, steps=10)


def test_keras_parity_fixture_is_offered_by_the_pytest_plugin(keras, keras_parity):
    assert keras_parity is testing.assert_matches_keras
    keras_parity(model_with(), X, Y, steps=2)


def trained_model_with(dtype, optimizer):
    model = model_with(dtype, optimizer=optimizer)
    model.fit(X, Y, epochs=5, batch_size=16, verbose=0)   # 20 steps: moments and step count far from fresh
    return model


def model_state(model):
    """Weights, gradients, step count and every optimizer slot: copies, to compare bit for bit."""
    return (model.get_weights(), model._params.grads.copy(), model.optimizer.iterations,
            copy.deepcopy(model.optimizer._slots))


def assert_same_state(before, after):
    weights, grads, iterations, slots = before
    np.testing.assert_equal(after[0], weights)   # exact equality, array by array
    np.testing.assert_array_equal(after[1], grads)
    assert after[2] == iterations
    assert after[3] is not None and len(after[3]) == len(slots)
    for ours, theirs in zip(after[3], slots):
        assert ours.keys() == theirs.keys()
        for name in ours:
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", [Adam, lambda: SGD(0.1, momentum=0.9)], ids=["adam", "sgd-momentum"])
def test_a_trained_model_matches_keras_from_its_own_optimizer_state(keras, dtype, optimizer):
    # The Keras twin must continue from the model's step count and slots (Adam's m and v, SGD's
    # velocity); from a fresh optimizer its first step would differ by ~1e-3.
    testing.assert_matches_keras(trained_model_with(dtype, optimizer()), X, Y, steps=10)


@pytest.mark.parametrize("check", ["assert_matches_keras", "keras_parity"])
def test_the_parity_check_leaves_the_callers_model_bit_for_bit_as_it_was(keras, keras_parity, check):
    model = trained_model_with("float32", Adam())
    before = model_state(model)
    {"assert_matches_keras": testing.assert_matches_keras, "keras_parity": keras_parity}[check](model, X, Y, steps=3)
    assert_same_state(before, model_state(model))


def test_the_parity_check_leaves_an_unbuilt_model_unbuilt(keras):
    model = npnet.Sequential([Dense(4, activation="relu"), Dense(3, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    testing.assert_matches_keras(model, X, Y, steps=2)
    assert not model.built and model.optimizer.iterations == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_wrong_bias_gradient_is_caught_and_named(keras, dtype):
    model = model_with(dtype, layer=WrongBiasGradient)
    with pytest.raises(AssertionError, match=rf"gradient of {model.layers[0].name}/bias differs from Keras by"):
        testing.assert_matches_keras(model, X, Y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_paper_form_adam_is_caught_at_its_first_step(keras, dtype):
    with pytest.raises(AssertionError, match=r"after optimizer step 1, dense\S*/(kernel|bias) differs from Keras"):
        testing.assert_matches_keras(model_with(dtype, optimizer=PaperAdam()), X, Y)


def test_an_unclipped_crossentropy_is_caught(keras):
    with pytest.raises(AssertionError, match=r"saturated probabilities \(clipping"):
        testing.assert_matches_keras(model_with(loss=UnclippedCrossentropy()), X, Y)


def test_assert_matches_keras_checks_its_arguments(keras):
    with pytest.raises(TypeError, match="model must be an npnet Sequential"):
        testing.assert_matches_keras("model", X, Y)
    with pytest.raises(ValueError, match=r"call compile\(\) before assert_matches_keras"):
        testing.assert_matches_keras(npnet.Sequential([Dense(3, input_dim=6)]), X, Y)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        testing.assert_matches_keras(model_with(), X, Y, steps=-1)
    with pytest.raises(ValueError, match="x must have 6 columns"):
        testing.assert_matches_keras(model_with(), X[:, :2], Y)
    with pytest.raises(TypeError, match="tolerances must be an npnet.testing.Tolerances"):
        testing.assert_matches_keras(model_with(), X, Y, tolerances={"weight_atol": 1})


def test_custom_tolerances_are_used(keras):
    strict = testing.Tolerances(forward_rtol=0.0, loss_rtol=0.0, gradient_atol=0.0, weight_atol=0.0)
    with pytest.raises(AssertionError, match=r"forward pass differs from Keras|loss differs|gradient of"):
        testing.assert_matches_keras(model_with(), X * 10, Y, tolerances=strict)


# -- interop ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_keras_and_back_keeps_layers_weights_and_compile_settings(keras, dtype):
    model = model_with(dtype, optimizer=SGD(0.05, momentum=0.5, nesterov=True))
    keras_model = interop.to_keras(model)
    assert [layer.name for layer in keras_model.layers] == [layer.name for layer in model.layers]
    assert keras_model.layers[0].kernel.dtype == dtype
    assert isinstance(keras_model.optimizer, keras.optimizers.SGD)
    back = interop.from_keras(keras_model)
    assert [layer.get_config() for layer in back.layers] == [layer.get_config() for layer in model.layers]
    assert back.dtype == model.dtype and back.metrics_names == model.metrics_names
    config = back.optimizer.get_config()
    assert config["nesterov"] is True and math.isclose(config["momentum"], 0.5)
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_from_keras_reads_a_model_built_and_compiled_in_keras(keras):
    keras_model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(4, activation="tanh"),
                                    keras.layers.Dense(2, activation="sigmoid", use_bias=False)])
    keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                        metrics=["accuracy"])
    model = interop.from_keras(keras_model)
    assert [layer.activation.name for layer in model.layers] == ["tanh", "sigmoid"]
    assert model.layers[1].bias is None
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    np.testing.assert_allclose(model.predict(X, verbose=0), keras_model.predict(X, verbose=0), rtol=5e-6)


def test_from_keras_refuses_what_npnet_cannot_represent(keras):
    with pytest.raises(TypeError, match="keras_model must be a Keras model"):
        interop.from_keras(model_with())
    noise = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(4), keras.layers.GaussianNoise(0.5)])
    with pytest.raises(ValueError, match="is a GaussianNoise; npnet has Activation, BatchNormalization, Dense, "
                                         "Dropout, LayerNormalization layers only"):
        interop.from_keras(noise)
    # options npnet's layers lack are refused at any active value, naming the option
    for layer, option in ((keras.layers.BatchNormalization(renorm=True), "renorm"),
                          (keras.layers.Dense(4, kernel_constraint="non_neg"), "kernel_constraint"),
                          (keras.layers.LayerNormalization(beta_constraint="non_neg"), "beta_constraint")):
        with pytest.raises(ValueError, match=f"npnet's {type(layer).__name__} has no {option}"):
            interop.from_keras(keras.Sequential([keras.Input(shape=(6,)), layer]))
    selu = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(4, activation="selu")])
    with pytest.raises(ValueError, match="unknown activation 'selu'"):
        interop.from_keras(selu)
    poisson = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(4)])
    poisson.compile(optimizer="adam", loss="poisson")
    with pytest.raises(ValueError, match="loss 'poisson' has no npnet counterpart"):
        interop.from_keras(poisson)
    lion = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(4)])
    lion.compile(optimizer="lion", loss="binary_crossentropy")
    with pytest.raises(ValueError, match="optimizer Lion has no npnet counterpart"):
        interop.from_keras(lion)


CARRIED = [cls() for cls in optimizers.registered().values()] + [
    SGD(0.1, momentum=0.9), Adam(amsgrad=True), optimizers.RMSprop(momentum=0.5, centered=True)]


@pytest.mark.parametrize("optimizer", CARRIED, ids=lambda o: "-".join(str(v) for k, v in o.get_config().items()
                                                                  if k in ("name", "momentum", "amsgrad", "centered")))
def test_to_keras_carries_the_optimizer_step_count_and_slots(keras, optimizer):
    model = trained_model_with("float64", optimizers.from_config(optimizer.get_config()))
    keras_optimizer = interop.to_keras(model).optimizer
    assert int(keras_optimizer.iterations.numpy()) == model.optimizer.iterations == 20
    state = model.optimizer.get_state()   # one flat (P,) array per slot; Keras's slot names
    assert len(state) == 1 + len(model.optimizer.slot_names) + ("u_product" in state)
    for name in model.optimizer.slot_names:
        flat = np.concatenate([variable.numpy().ravel() for variable in keras_optimizer.variables
                               if variable.name.endswith("_" + name)])
        np.testing.assert_array_equal(flat, state[f"{name}_0"])   # assigned, not computed: exact
    if "u_product" in state:
        np.testing.assert_array_equal(keras_optimizer._u_product.numpy(), state["u_product"])


def test_the_trace_of_a_trained_model_compares_its_update_with_keras(keras):
    model = trained_model_with("float64", Adam())
    differences = testing.compare_trace_with_keras(model.trace(X, Y))
    updates = {key: value for key, value in differences.items() if "/update_" in key}
    assert len(updates) == 6   # kernel and bias of 3 layers
    assert max(updates.values()) <= testing.DEFAULT_TOLERANCES[np.dtype(np.float64)].weight_atol


def test_to_keras_needs_a_built_npnet_model(keras):
    with pytest.raises(ValueError, match="no weights yet"):
        interop.to_keras(npnet.Sequential([Dense(3)]))
    with pytest.raises(TypeError, match="model must be an npnet Sequential"):
        interop.to_keras(object())
