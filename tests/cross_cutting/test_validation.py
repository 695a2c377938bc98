"""Bad input at every public entry point: a ValueError/TypeError naming the argument, and no state change.

Each case runs against a trained model; afterwards its weights, its optimizer
(iterations and every slot) and its compile settings must be exactly as before.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import npnet
from npnet import activations, backend, gradcheck, initializers, utils
from npnet.callbacks import History
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy, binary_crossentropy
from npnet.metrics import BinaryAccuracy, binary_accuracy
from npnet.models import NotCompiledError, load_model
from npnet.optimizers import SGD, Adam

X = np.random.default_rng(0).normal(size=(12, 4))
Y = (np.random.default_rng(1).random((12, 3)) > 0.5).astype(float)


def with_value(array, index, value):
    array = np.array(array, dtype=float)
    array[index] = value
    return array


@pytest.fixture
def model():
    utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dense(3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, epochs=1, verbose=0)    # the optimizer has state that a bad call must not touch
    return model


def snapshot(model):
    optimizer = model.optimizer
    return ([w.copy() for w in model.get_weights()], optimizer.iterations,
            optimizer.get_state(),
            model.loss, model.metrics_names)


def assert_unchanged(model, before):
    after = snapshot(model)
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert before[1] == after[1]
    assert before[2].keys() == after[2].keys()
    for key in before[2]:
        np.testing.assert_array_equal(before[2][key], after[2][key])
    assert before[3] is after[3] and before[4] == after[4]


BAD_DATA = [  # (x, y, exception, message naming the argument)
    (X[:, :3], Y, ValueError, r"x must have 4 columns"),
    (X[0], Y, ValueError, r"x must be 2-dimensional"),
    (X[:, :, None], Y, ValueError, r"x must be 2-dimensional"),
    (X[:0], Y[:0], ValueError, r"x is empty"),
    (with_value(X, (2, 1), np.nan), Y, ValueError, r"x has non-finite values \(NaN or inf\)"),
    (with_value(X, (0, 0), np.inf), Y, ValueError, r"x has non-finite values"),
    (X.astype(str), Y, TypeError, r"x must hold real numbers"),
    (X.astype(object), Y, TypeError, r"x must hold real numbers"),
    (X.astype(complex), Y, TypeError, r"x must hold real numbers"),
    ([[1.0, 2.0], [3.0]], Y, ValueError, r"x must be a rectangular array"),
    (np.full((12, 4), 1e39), Y, ValueError, r"x has non-finite values after conversion to float32"),
    (X, Y[:, :2], ValueError, r"y must have 3 columns"),
    (X, Y[:10], ValueError, r"x and y must have the same number of samples, got 12 and 10"),
    (X, Y[:, 0], ValueError, r"y must be 2-dimensional"),
    (X, with_value(Y, (3, 2), 2.0), ValueError, r"y must lie in \[0, 1\] for binary crossentropy"),
    (X, with_value(Y, (3, 2), -1.0), ValueError, r"y must lie in \[0, 1\]"),
    (X, with_value(Y, (0, 0), np.nan), ValueError, r"y has non-finite values"),
]


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "loss_and_gradients"])
@pytest.mark.parametrize("x, y, error, message", BAD_DATA)
def test_bad_data_is_refused_by_name_before_any_state_changes(model, method, x, y, error, message):
    before = snapshot(model)
    kwargs = {"verbose": 0} if method in ("fit", "evaluate") else {}
    with pytest.raises(error, match=message):
        getattr(model, method)(x, y, **kwargs)
    assert_unchanged(model, before)


@pytest.mark.parametrize("x, error, message", [(x, e, m) for x, _, e, m in BAD_DATA[:11]])
def test_predict_refuses_bad_x(model, x, error, message):
    with pytest.raises(error, match=message):
        model.predict(x, verbose=0)


def test_soft_labels_inside_the_unit_interval_are_accepted(model):
    soft = np.clip(Y * 0.8 + 0.1, 0, 1)
    assert np.isfinite(model.evaluate(X, soft, verbose=0)[0])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": 0}, ValueError, r"batch_size must be >= 1"),
    ({"batch_size": 2.5}, TypeError, r"batch_size must be an int"),
    ({"batch_size": True}, TypeError, r"batch_size must be an int"),
    ({"epochs": -1}, ValueError, r"epochs must be >= 0"),
    ({"epochs": "10"}, TypeError, r"epochs must be an int"),
    ({"verbose": 3}, ValueError, r"verbose must be 0, 1, 2 or 'auto'"),
    ({"verbose": True}, ValueError, r"verbose must be"),
    ({"validation_split": 1.0}, ValueError, r"validation_split must be in \[0.0, 1.0\)"),
    ({"validation_split": -0.1}, ValueError, r"validation_split must be in"),
    ({"validation_split": float("nan")}, ValueError, r"validation_split must be in"),
    ({"validation_split": 1e-17}, ValueError, r"validation_split=1e-17 leaves 12 of 12 samples for training"),
    ({"validation_split": 0.95}, ValueError, r"leaves 0 of 12 samples"),
    ({"shuffle": 1}, TypeError, r"shuffle must be a bool"),
    ({"shuffle": "batch"}, TypeError, r"shuffle must be a bool"),
    ({"callbacks": History()}, TypeError, r"callbacks must be a list"),
    ({"callbacks": [print]}, TypeError, r"callbacks must be a list of npnet.callbacks.Callback"),
    ({"validation_data": X}, TypeError, r"validation_data must be a tuple"),
    ({"validation_data": (X, Y, Y[:, 0], Y)}, TypeError, r"validation_data must be a tuple"),
    ({"validation_data": (X, Y, Y)}, ValueError, r"validation_data sample_weight must be 1-dimensional"),
    ({"validation_data": (X, Y, -np.ones(12))}, ValueError, r"validation_data sample_weight must be >= 0"),
    ({"sample_weight": np.ones(11)}, ValueError, r"sample_weight must hold one weight per sample \(12\)"),
    ({"sample_weight": np.full(12, np.nan)}, ValueError, r"sample_weight has non-finite values"),
    ({"sample_weight": ["a"] * 12}, TypeError, r"sample_weight must hold real numbers"),
    ({"sample_weight": np.ones(12), "class_weight": {0: 1.0}}, ValueError, r"class_weight and sample_weight"),
    ({"class_weight": {0: 1.0, 1: 3.0}}, ValueError, r"class_weight needs a one-unit output; this model has"),
    ({"validation_data": (X[:, :2], Y)}, ValueError, r"validation_data x must have 4 columns"),
    ({"validation_data": (X, with_value(Y, (0, 0), 3))}, ValueError, r"validation_data y must lie in \[0, 1\]"),
])
def test_fit_refuses_nonsense_arguments_before_any_state_changes(model, kwargs, error, message):
    before = snapshot(model)
    with pytest.raises(error, match=message):
        model.fit(X, Y, **kwargs)
    assert_unchanged(model, before)


@pytest.mark.parametrize("method, kwargs, message", [
    ("evaluate", {"batch_size": -5}, "batch_size"), ("evaluate", {"verbose": "loud"}, "verbose"),
    ("predict", {"batch_size": 0}, "batch_size"), ("predict", {"verbose": 7}, "verbose")])
def test_evaluate_and_predict_refuse_nonsense_arguments(model, method, kwargs, message):
    args = (X, Y) if method == "evaluate" else (X,)
    with pytest.raises((TypeError, ValueError), match=message):
        getattr(model, method)(*args, **kwargs)


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "loss_and_gradients"])
def test_training_or_evaluating_before_compile_raises(method):
    model = npnet.Sequential([Dense(3, activation="sigmoid", input_dim=4)])
    with pytest.raises(NotCompiledError, match=rf"call compile\(\) before {method}\(\)") as info:
        getattr(model, method)(X, Y)
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"loss": None}, ValueError, r"compile needs a loss"),
    ({"loss": "poisson"}, ValueError, r"unknown loss 'poisson'"),
    ({"loss": "binary_crossentropy", "optimizer": "adafactor"}, ValueError, r"unknown optimizer 'adafactor'"),
    ({"loss": "binary_crossentropy", "optimizer": 0.01}, ValueError, r"unknown optimizer 0.01"),
    ({"loss": "binary_crossentropy", "metrics": "accuracy"}, TypeError, r"metrics must be a list"),
    ({"loss": "binary_crossentropy", "metrics": ["f2"]}, ValueError, r"unknown metric 'f2'"),
    ({"loss": "binary_crossentropy", "metrics": ["acc", "acc"]}, ValueError, r"metric names must be distinct"),
])
def test_compile_refuses_unknown_losses_optimizers_and_metrics(model, kwargs, error, message):
    before = snapshot(model)
    with pytest.raises(error, match=message):
        model.compile(**kwargs)
    assert_unchanged(model, before)


@pytest.mark.parametrize("weights, error, message", [
    ("not a list", TypeError, r"weights must be a list of arrays"),
    ([np.zeros((4, 5))], ValueError, r"weights must hold 4 arrays, got 1"),
    (lambda w: [w[0].T] + w[1:], ValueError, r"weights\[0\] must have shape \(4, 5\), got \(5, 4\)"),
    (lambda w: w[:3] + [w[3][:2]], ValueError, r"weights\[3\] must have shape \(3,\)"),
    (lambda w: [with_value(w[0], (1, 1), np.nan)] + w[1:], ValueError, r"weights\[0\] has non-finite values"),
    (lambda w: w[:1] + [w[1].astype(str)] + w[2:], TypeError, r"weights\[1\] must hold real numbers"),
])
def test_set_weights_refuses_mismatched_weights_and_changes_nothing(model, weights, error, message):
    before = snapshot(model)
    with pytest.raises(error, match=message):
        model.set_weights(weights(model.get_weights()) if callable(weights) else weights)
    assert_unchanged(model, before)


def test_set_weights_on_an_unbuilt_model_checks_every_shape_before_building():
    model = npnet.Sequential([Dense(5, activation="relu"), Dense(3)])
    with pytest.raises(ValueError, match=r"weights\[2\] must have shape \(5, 3\)"):
        model.set_weights([np.zeros((4, 5)), np.zeros(5), np.zeros((5, 2)), np.zeros(3)])
    assert not model.built


def test_structure_errors_name_what_is_wrong():
    with pytest.raises(TypeError, match=r"layer must be an npnet layer \(Activation, BatchNormalization, Dense, Dropout, LayerNormalization, or a npnet.layers.Layer of your own\) or Input"):
        npnet.Sequential(["dense"])
    with pytest.raises(TypeError, match="layers must be a list of layers"):
        npnet.Sequential(Dense(3))
    with pytest.raises(ValueError, match="npnet.Input must come first"):
        npnet.Sequential([Dense(3, input_dim=2), npnet.Input(shape=(2,))])
    with pytest.raises(ValueError, match="only the first layer may set input_dim"):
        npnet.Sequential([Dense(3, input_dim=2), Dense(3, input_dim=3)])
    layer = Dense(3)
    with pytest.raises(ValueError, match="already in this model"):
        npnet.Sequential([layer, layer])
    with pytest.raises(ValueError, match="no layers"):
        npnet.Sequential().predict(X)
    with pytest.raises(ValueError, match="dtype must be one of"):
        npnet.Sequential(dtype="float16")
    with pytest.raises(ValueError, match="input_shape must be"):
        npnet.Sequential([Dense(3)]).build((4, 4))
    with pytest.raises(ValueError, match="no weights yet"):
        npnet.Sequential([Dense(3)]).count_params()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"units": 0}, ValueError, r"units must be >= 1"), ({"units": 2.0}, TypeError, r"units must be an int"),
    ({"units": 2, "activation": "selu"}, ValueError, r"unknown activation 'selu'"),
    ({"units": 2, "activation": np.tanh}, TypeError, r"needs its backward"),
    ({"units": 2, "use_bias": "yes"}, TypeError, r"use_bias must be a bool"),
    ({"units": 2, "kernel_initializer": "he_normall"}, ValueError, r"unknown initializer 'he_normall'"),
    ({"units": 2, "input_dim": 0}, ValueError, r"input_dim must be >= 1"),
    ({"units": 2, "input_shape": (3, 4)}, ValueError, r"input_shape must be a 1-tuple"),
    ({"units": 2, "input_dim": 3, "input_shape": (4,)}, ValueError, r"input_dim=3 disagrees with input_shape"),
    ({"units": 2, "name": 5}, TypeError, r"name must be a str"),
])
def test_dense_refuses_nonsense_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        Dense(**kwargs)


def test_a_dense_layer_called_on_data_checks_it():
    layer = Dense(2)
    assert layer(X).shape == (12, 2)
    with pytest.raises(ValueError, match="x must have 4 columns"):
        layer(X[:, :3])
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(2,\)"):
        layer.set_weights([np.zeros((4, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="has no weights yet"):
        Dense(2).get_weights()


@pytest.mark.parametrize("call, error, message", [
    (lambda: binary_crossentropy([[1, 0]], [[0.5]]), ValueError, r"y_true and y_pred must have the same shape"),
    (lambda: binary_crossentropy([[2, 0]], [[0.5, 0.5]]), ValueError, r"y_true must lie in \[0, 1\]"),
    (lambda: binary_crossentropy([[1, 0]], [[1.5, 0.5]]), ValueError, r"y_pred must be probabilities in \[0, 1\]"),
    (lambda: binary_crossentropy([[1, 0]], [[np.nan, 0.5]]), ValueError, r"y_pred has non-finite values"),
    (lambda: binary_crossentropy([[1, 0]], [[0.5, 0.5]], from_logits=1), TypeError, r"from_logits must be a bool"),
    (lambda: binary_crossentropy([], []), ValueError, r"y_pred is empty"),
    (lambda: BinaryCrossentropy()([[1, 0]], [["a", "b"]]), TypeError, r"y_pred must hold real numbers"),
    (lambda: BinaryCrossentropy(from_logits="no"), TypeError, r"from_logits must be a bool"),
    (lambda: binary_accuracy([[1, 0]], [[0.5, 0.5]], threshold=2), ValueError, r"threshold must be in \[0.0, 1.0\]"),
    (lambda: binary_accuracy([[1, 0, 1]], [[0.5, 0.5]]), ValueError, r"must have the same shape"),
    (lambda: BinaryAccuracy(threshold=-1), ValueError, r"threshold must be in"),
    (lambda: BinaryAccuracy(name=3), TypeError, r"name must be a str"),
    (lambda: Adam(learning_rate=0), ValueError, r"learning_rate must be in \(0.0, inf\)"),
    (lambda: Adam(learning_rate="fast"), TypeError, r"learning_rate must be a real number"),
    (lambda: Adam(beta_1=1.0), ValueError, r"beta_1 must be in \[0.0, 1.0\)"),
    (lambda: Adam(beta_2=-0.5), ValueError, r"beta_2 must be in"),
    (lambda: Adam(epsilon=float("inf")), ValueError, r"epsilon must be in"),
    (lambda: SGD(momentum=1.5), ValueError, r"momentum must be in \[0.0, 1.0\)"),
    (lambda: SGD(nesterov=1), TypeError, r"nesterov must be a bool"),
    (lambda: activations.get(3), TypeError, r"activation must be None, a name"),
    (lambda: initializers.GlorotUniform(seed=-1), ValueError, r"seed must be >= 0"),
    (lambda: initializers.get(5), TypeError, r"initializer must be a name"),
    (lambda: utils.set_random_seed(1.5), TypeError, r"seed must be an int"),
    (lambda: backend.set_floatx("float16"), ValueError, r"dtype must be one of \['float32', 'float64'\]"),
    (lambda: npnet.Input(shape=4), ValueError, r"input_shape must be a 1-tuple"),
    (lambda: gradcheck.check_loss("binary_crossentropy", [[1.0]], [[0.5]], eps=0), ValueError, r"eps must be in"),
])
def test_library_functions_refuse_bad_arguments_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_apply_gradients_refuses_mismatches_and_leaves_parameters_alone():
    adam, w = Adam(), np.ones(3)
    with pytest.raises(ValueError, match=r"gradient 0 has shape \(2,\), its parameter \(3,\)"):
        adam.apply_gradients([(np.ones(2), w)])
    with pytest.raises(ValueError, match="gradient 0 must be finite"):
        adam.apply_gradients([(np.array([1.0, np.nan, 1.0]), w)])
    with pytest.raises(TypeError, match="parameter 0 must be a writable float ndarray"):
        adam.apply_gradients([(np.ones(3), [1.0, 1.0, 1.0])])
    with pytest.raises(TypeError, match="grads_and_vars must be a non-empty iterable"):
        adam.apply_gradients([])
    np.testing.assert_array_equal(w, 1.0)
    assert adam.iterations == 0
    adam.apply_gradients([(np.ones(3), w)])
    with pytest.raises(ValueError, match="this optimizer was built for parameters"):
        adam.apply_gradients([(np.ones(4), np.ones(4))])
    assert adam.iterations == 1


def test_files_are_checked_and_never_unpickled(model, tmp_path):
    with pytest.raises(ValueError, match="path must end with '.npz'"):
        model.save_weights(tmp_path / "weights.pkl")
    pickled = tmp_path / "evil.npz"
    np.savez(pickled, format_version=np.array(1), **{"0": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="evil.npz"):
        model.load_weights(pickled)
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps([np.zeros(3)]))
    with pytest.raises(ValueError, match="not a readable npnet file"):
        load_model(tmp_path / "pickle.npz")
    (tmp_path / "truncated.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 10)
    with pytest.raises(ValueError, match="truncated.npz"):
        model.load_weights(tmp_path / "truncated.npz")
    other = npnet.Sequential([npnet.Input(shape=(4,)), Dense(2)])
    other.save_weights(tmp_path / "other.npz")
    before = snapshot(model)
    with pytest.raises(ValueError, match="weights must hold 4 arrays, got 2"):
        model.load_weights(tmp_path / "other.npz")
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="holds weights only"):
        load_model(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "missing.npz")


# -- streams: generators, iterators, datasets --------------------------------------------------------

STREAM = r"is a \w+ object: npnet takes arrays, not generators, iterators or datasets"


def batches():
    for start in range(0, len(X), 4):
        yield X[start:start + 4], Y[start:start + 4]


STREAMS = {
    "generator": lambda: (row for row in X),
    "iterator": lambda: iter(X),
    "map": lambda: map(np.asarray, X),
    "batch-generator": batches,
}


@pytest.mark.parametrize("make", STREAMS.values(), ids=STREAMS.keys())
def test_generators_and_iterators_are_refused_saying_what_to_pass(model, make):
    before = snapshot(model)
    calls = {"fit": lambda: model.fit(make(), epochs=1, verbose=0),   # Keras style: the stream carries y
             "fit x": lambda: model.fit(make(), Y, epochs=1, verbose=0),
             "fit y": lambda: model.fit(X, make(), epochs=1, verbose=0),
             "evaluate": lambda: model.evaluate(make(), verbose=0),
             "predict": lambda: model.predict(make(), verbose=0),
             "train_on_batch": lambda: model.train_on_batch(make(), Y)}
    for call_name, call in calls.items():
        with pytest.raises(TypeError, match=STREAM) as error:
            call()
        message = str(error.value)
        assert message.startswith("y " if call_name == "fit y" else "x "), call_name
        assert "np.concatenate" in message and "as_numpy_iterator()" in message
    assert_unchanged(model, before)


def test_a_tf_data_dataset_and_a_keras_pydataset_are_refused_saying_what_to_pass(keras, model):
    import tensorflow as tf

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return X[4 * index:4 * index + 4], Y[4 * index:4 * index + 4]

    dataset = tf.data.Dataset.from_tensor_slices((X, Y)).batch(4)
    before = snapshot(model)
    for stream in (dataset, Batches()):
        for call in (lambda: model.fit(stream, verbose=0), lambda: model.evaluate(stream, verbose=0),
                     lambda: model.predict(stream, verbose=0)):
            with pytest.raises(TypeError, match=STREAM):
                call()
    assert_unchanged(model, before)
    # what the message tells a tf.data user to do works
    x, y = (np.concatenate(part) for part in zip(*dataset.as_numpy_iterator()))
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(X, verbose=0))


def test_fit_and_evaluate_without_targets_say_y_is_missing(model):
    before = snapshot(model)
    for call in (lambda: model.fit(X, verbose=0), lambda: model.evaluate(X, verbose=0)):
        with pytest.raises(TypeError, match=r"y is missing: the targets, an array of shape \(N, 3\)"):
            call()
    assert_unchanged(model, before)
