"""Whole models with softmax and regression heads against Keras 3: forward, loss, gradients, steps, whole runs.

Each npnet model is mirrored in Keras by ``npnet.interop.to_keras`` (same
layers, weights, loss, metrics and optimizer); the whole runs on
scikit-learn's digits and diabetes data use the hand-written Keras models of
``reference.tasks`` instead. Every tolerance was measured first (Keras
3.15.1, TensorFlow 2.21.0, NumPy 2.4, this CPU); the measured value stands
next to it. Keras keeps its default floatx, float32, as in tests/parity/test_tutorial_model.py:
it then casts inputs to float32 in fit/predict (so the data below are float32
numbers, exact in both dtypes) and tracks losses and metrics in float32, so a
float64 model's reported loss agrees with Keras's to float32 rounding only.
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import interop, losses, testing
from npnet.layers import Dense, Input

N, I = 64, 6
rng = np.random.default_rng(0)
X = rng.normal(size=(N, I)).astype(np.float32).astype(np.float64)      # float32 numbers (see above)
IDS = rng.integers(0, 4, N)
ONE_HOT = np.eye(4)[IDS]
REAL = rng.normal(size=(N, 2)).astype(np.float32).astype(np.float64)

# hidden activation, loss, targets, output units, output activation, metric
HEADS = {
    "softmax + categorical crossentropy": ("gelu", "categorical_crossentropy", ONE_HOT, 4, "softmax", "accuracy"),
    "softmax + sparse categorical crossentropy": ("silu", "sparse_categorical_crossentropy", IDS, 4, "softmax",
                                                  "accuracy"),
    "softmax + smoothed crossentropy": ("elu", losses.CategoricalCrossentropy(label_smoothing=0.1), ONE_HOT, 4,
                                       "softmax", "categorical_accuracy"),   # Keras's top-k: float32 only
    "logits + sparse crossentropy": ("relu", losses.SparseCategoricalCrossentropy(from_logits=True), IDS, 4,
                                     "linear", "accuracy"),
    "linear + mse": ("leaky_relu", "mse", REAL, 2, "linear", "mae"),
    "linear + mae": ("softplus", "mae", REAL, 2, "linear", "RootMeanSquaredError"),
    "linear + huber": ("tanh", losses.Huber(delta=0.5), REAL, 2, "linear", "r2_score"),
}


def head_model(name: str, dtype: str, seed: int = 1) -> tuple[npnet.Sequential, np.ndarray]:
    hidden, loss, y, units, output, metric = HEADS[name]
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([Input(shape=(I,)), Dense(8, activation=hidden), Dense(units, activation=output)],
                             dtype=dtype)
    model.compile(optimizer="adam", loss=loss, metrics=[metric])
    return model, y


keras_loss_and_gradients = testing._keras_loss_and_gradients   # the compiled loss of keras_model(x) under a tape


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-6), ("float64", 1e-14)])   # measured 2.4e-7, 4.4e-16
@pytest.mark.parametrize("name", HEADS)
def test_head_forward_equals_keras(keras, name, dtype, rtol):
    model, _ = head_model(name, dtype)
    twin = interop.to_keras(model)
    np.testing.assert_allclose(model.predict(X, verbose=0), twin.predict(X, verbose=0), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype, loss_rtol, atol", [("float32", 1e-6, 1e-6),      # measured 8.3e-8, 4.5e-8
                                                    ("float64", 1e-14, 1e-15)])   # measured 1.5e-16, 2.2e-16
@pytest.mark.parametrize("name", HEADS)
def test_head_loss_and_gradients_equal_gradient_tape(keras, name, dtype, loss_rtol, atol):
    """The fused softmax step (or the plain loss) against Keras's compiled loss under tf.GradientTape."""
    model, y = head_model(name, dtype)
    loss, gradients = model.loss_and_gradients(X, y)
    keras_loss, keras_gradients = keras_loss_and_gradients(interop.to_keras(model), X, y)
    assert loss == pytest.approx(keras_loss, rel=loss_rtol)
    for ours, theirs in zip(gradients, keras_gradients, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype, atol", [("float32", 1e-6), ("float64", 1e-15)])   # measured 6.0e-8, 1.1e-16
@pytest.mark.parametrize("name", HEADS)
def test_head_ten_adam_steps_give_keras_weights_losses_and_metrics(keras, name, dtype, atol):
    """Ten train_on_batch steps of 16 samples, cycling through the data; the weights after the tenth."""
    model, y = head_model(name, dtype)
    twin = interop.to_keras(model)
    for step in range(10):
        batch = slice(16 * (step % 4), 16 * (step % 4) + 16)
        ours = model.train_on_batch(X[batch], y[batch])
        theirs = twin.train_on_batch(X[batch], y[batch], return_dict=True)
        assert ours[0] == pytest.approx(theirs["loss"], rel=1e-6)   # measured 2.4e-7 (Keras's float32 tracker)
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


@pytest.mark.parametrize("name", ["softmax + categorical crossentropy", "softmax + sparse categorical crossentropy"])
def test_softmax_head_trains_from_its_logits_finite_at_1e4(keras, name):
    """Logits of +-1e4: the fused loss is exact and finite, as Keras's (which takes the softmax's logits too)."""
    model, y = head_model(name, "float32")
    weights = model.get_weights()
    weights[-2] = weights[-2] * 1e4
    model.set_weights(weights)
    twin = interop.to_keras(model)
    loss, gradients = model.loss_and_gradients(X, y)
    keras_loss, keras_gradients = keras_loss_and_gradients(twin, X, y)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in gradients)
    assert loss == pytest.approx(keras_loss, rel=1e-6)    # measured 1.0e-7 (categorical), 0 (sparse)
    for ours, theirs in zip(gradients, keras_gradients, strict=True):
        # The gradients reach ~800 (the output kernel is 1e4 times larger) and an entry is a sum of such
        # terms, so float32 rounding is relative to the largest: 8 eps of it (measured 1.06 and 1.18 eps).
        scale = float(np.abs(theirs).max())
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=8 * np.finfo(np.float32).eps * scale)


def test_class_weight_on_a_softmax_head_follows_keras(keras):
    """Keras weighs a sample by its class: the id (sparse) or the argmax of its one-hot row."""
    for name in ("softmax + categorical crossentropy", "softmax + sparse categorical crossentropy"):
        model, y = head_model(name, "float32")
        twin = interop.to_keras(model)
        class_weight = {0: 0.5, 2: 3.0}
        ours = model.fit(X, y, batch_size=16, epochs=2, shuffle=False, verbose=0, class_weight=class_weight)
        theirs = twin.fit(X, y, batch_size=16, epochs=2, shuffle=False, verbose=0, class_weight=class_weight)
        np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=1e-6)   # measured 6.4e-8


def test_class_weight_with_a_regression_loss_is_refused():
    model, y = head_model("linear + mse", "float32")
    with pytest.raises(ValueError, match="class_weight needs targets that name one class per sample"):
        model.fit(X, y, class_weight={0: 2.0}, verbose=0)


@pytest.mark.parametrize("name, y, message", [
    ("softmax + sparse categorical crossentropy", np.full(N, 4), "y holds class id 4, but there are 4 classes"),
    ("softmax + sparse categorical crossentropy", IDS + 0.5, "y must hold integer class ids"),
    ("softmax + categorical crossentropy", ONE_HOT * 0.5, "each row of y must sum to 1"),
    ("softmax + categorical crossentropy", IDS, "y must be 2-dimensional"),
    ("linear + mse", np.where(REAL > 1, np.nan, REAL), "y has non-finite values"),
    ("linear + mse", REAL[:, :1], "y must have 2 columns"),
])
def test_fit_refuses_targets_the_head_cannot_take_before_training(name, y, message):
    model, _ = head_model(name, "float32")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", HEADS)
def test_head_models_save_and_load_with_their_loss_metrics_and_optimizer_state(tmp_path, name):
    model, y = head_model(name, "float32")
    model.fit(X, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "model.npz"
    model.save(path)
    again = npnet.models.load_model(path)
    assert type(again.loss) is type(model.loss) and again.loss.get_config() == model.loss.get_config()
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))
    assert again.evaluate(X, y, verbose=0) == model.evaluate(X, y, verbose=0)   # same arrays, same calls
    assert [m.get_config() for m in again.metrics] == [m.get_config() for m in model.metrics]
    model.fit(X, y, batch_size=16, epochs=1, verbose=0, shuffle=False)   # training resumes where it stopped
    again.fit(X, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)   # the same arrays through the same calls: bit for bit


# -- whole runs on real data ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def task_runs(keras, sklearn):
    from reference import tasks
    return {(name, dtype): tasks.run(tasks.TASKS[name], dtype=dtype)
            for name in ("digits", "diabetes") for dtype in ("float32", "float64")}


# Per-epoch tolerance, relative: float32 rounding (6e-8) in every forward and backward, carried
# through 30 (digits) or 60 (diabetes) epochs of Adam, and Keras's float32 loss tracker even in float64.
# Measured (max over epochs, loss / metric / val_loss / val_metric):
#   digits float32 2.2e-7 / 3.9e-8 / 1.7e-7 / 3.7e-8, float64 2.2e-7 / 3.9e-8 / 1.2e-7 / 3.7e-8
#   diabetes float32 2.0e-7 / 1.4e-7 / 1.9e-7 / 1.4e-7, float64 1.7e-7 / 1.4e-7 / 1.2e-7 / 1.3e-7
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, metric", [("digits", "accuracy"), ("diabetes", "mae")])
def test_whole_run_per_epoch_curves_equal_keras(task_runs, name, metric, dtype):
    run = task_runs[(name, dtype)]
    ours, theirs = run["npnet"], run["keras"]
    assert set(ours["history"]) == set(theirs["history"]) == {"loss", metric, "val_loss", f"val_{metric}"}
    for key in ours["history"]:
        np.testing.assert_allclose(ours["history"][key], theirs["history"][key], rtol=2e-6, atol=0)
    np.testing.assert_allclose(ours["test"], theirs["test"], rtol=1e-6)   # measured 1.6e-7 (digits float32)
    for a, b in zip(ours["weights"], theirs["weights"], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)   # measured 3.0e-7 (digits float32, 30 epochs)


def test_whole_runs_learn_their_task(task_runs):
    """The runs compared above are real fits, not a trivial agreement: digits above 90 %, diabetes R2 > 0.3."""
    digits = task_runs[("digits", "float32")]["npnet"]
    assert digits["test"][1] > 0.9                                          # measured 0.948
    diabetes = task_runs[("diabetes", "float32")]["npnet"]
    assert diabetes["history"]["loss"][-1] < 0.5 * diabetes["history"]["loss"][0]   # measured 1.67 -> 0.33
    assert diabetes["test"][0] < 0.7                                        # MSE in target variances; measured 0.52


# -- the tools: assert_matches_keras, trace, the parity report ------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", HEADS)
def test_assert_matches_keras_passes_for_every_head(keras, name, dtype):
    model, y = head_model(name, dtype)
    testing.assert_matches_keras(model, X, y, steps=3)


@pytest.mark.parametrize("name", HEADS)
def test_trace_of_every_head_equals_keras_array_by_array(keras, name):
    model, y = head_model(name, "float32")
    trace = model.trace(X[:16], y[:16])
    differences = testing.compare_trace_with_keras(trace)
    assert max(differences.values()) < 1e-6   # float32 rounding; measured 2.4e-7 (linear + mae, a z)
    if name.startswith("softmax"):
        assert "dz = (softmax(z) - y) / N = (p - y) / 16: softmax and the loss differentiated together" in str(trace)


def test_parity_report_runs_every_task(keras, sklearn, tmp_path, capsys):
    from reference import parity
    assert parity.main(["--task", "all", "--epochs", "1", "--png-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| test sparse categorical accuracy |" not in out   # the label is the metric's own
    for task, row in (("tutorial", "| test binary accuracy |"), ("digits", "| test accuracy |"),
                      ("diabetes", "| test mean absolute error |")):
        assert f"### {task}:" in out and row in out
    for name in ("parity.png", "parity_digits.png", "parity_diabetes.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_from_logits_on_a_softmax_output_trains_from_the_logits_and_warns_as_keras(keras):
    """Keras's softmax output carries its logits, which a from_logits loss takes (with a warning): so does npnet."""
    npnet.utils.set_random_seed(1)
    model = npnet.Sequential([Input(shape=(I,)), Dense(8, activation="relu"), Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss=losses.CategoricalCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match="from_logits=True but the output is a softmax"):
        loss, gradients = model.loss_and_gradients(X, ONE_HOT)
    twin = interop.to_keras(model)
    with pytest.warns(UserWarning, match="produced by a Softmax activation"):
        keras_loss, keras_gradients = keras_loss_and_gradients(twin, X, ONE_HOT)
    assert loss == pytest.approx(keras_loss, rel=1e-6)   # measured 0
    for ours, theirs in zip(gradients, keras_gradients, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)   # measured 4.5e-8
