"""Property tests over the public API: every input either works as Keras would or is refused by name.

Each example builds a random small model (or takes a layer, loss, metric or
activation), draws valid data, then changes one argument into a *variant*:
another dtype (bool, ints, float16/32/64, complex, object, str), a Python list,
a non-contiguous or read-only array, NaN/inf somewhere, an empty, ragged or
misshapen array, targets outside [0, 1]. Two outcomes are allowed, and which
one is decided by the variant before the call:

- accepted (as Keras accepts it): the result, the weights and the optimizer
  state are bit-identical to those of a twin given the plain C-contiguous
  array of the model's dtype holding the same values;
- refused: a TypeError/ValueError whose message names the argument, and the
  weights, optimizer state (iterations, every slot), metric state, build state
  and npnet's random stream are bit-identical to before the call.

The hypothesis profile ("ci", tests/conftest.py) is derandomized: every run
tries the same examples.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import event, given, settings, strategies as st

import npnet
from npnet import activations, utils
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy, binary_crossentropy
from npnet.metrics import binary_accuracy
from npnet.optimizers import SGD, Adam

# -- variants of a valid array ------------------------------------------------------------------------------

ACCEPTED = ["float16", "float32", "float64", "int64", "int8", "uint8", "bool", "list", "tuple_rows",
            "fortran", "strided", "readonly", "readonly_strided"]
REFUSED_TYPE = ["complex", "object", "str", "none"]
REFUSED_VALUE = ["nan", "inf", "-inf", "empty", "ragged", "3d", "scalar"]


def make_variant(base: np.ndarray, kind: str, dtype: np.dtype, position: int):
    """``base`` (finite floats, 1-D or 2-D) turned into variant ``kind``.

    Numeric variants keep values representable, so that the variant and its
    canonical form hold the same numbers: ints and bools come from rounding /
    thresholding first (the canonical array is made from the variant, not from ``base``).
    """
    if kind in ("float16", "float32", "float64"):
        return base.astype(kind)
    if kind in ("int64", "int8", "uint8"):
        return np.clip(np.round(base), 0 if kind == "uint8" else -100, 100).astype(kind)
    if kind == "bool":
        return base > 0.5
    if kind == "list":
        return base.tolist()
    if kind == "tuple_rows":
        return [tuple(row) for row in base.tolist()] if base.ndim == 2 else tuple(base.tolist())
    if kind == "fortran":
        return np.asfortranarray(base.astype(dtype))
    if kind in ("strided", "readonly_strided"):
        wide = np.repeat(base.astype(dtype), 2, axis=-1)[..., ::2]   # every other element: non-contiguous
        assert not wide.flags.c_contiguous or wide.size <= 1
        if kind == "readonly_strided":
            wide.setflags(write=False)
        return wide
    if kind == "readonly":
        array = base.astype(dtype)   # already the model's dtype: npnet may use it without copying
        array.setflags(write=False)
        return array
    if kind == "complex":
        return base.astype(complex)
    if kind == "object":
        return base.astype(object)
    if kind == "str":
        return base.astype(str)
    if kind == "none":
        return None
    if kind in ("nan", "inf", "-inf"):
        array = base.astype(float)
        array.flat[position % array.size] = float(kind)
        return array
    if kind == "empty":
        return base[:0]
    if kind == "ragged":
        rows = base.tolist()
        return rows + [rows[-1] + [0.0]] if base.ndim == 2 else [[1.0], [1.0, 2.0]]   # a longer last row
    if kind == "3d":
        return base[..., None] if base.ndim == 2 else base[None, None]
    if kind == "scalar":
        return float(base.flat[0])
    raise AssertionError(kind)


def canonical(variant, dtype: np.dtype) -> np.ndarray:
    """What an accepted variant must behave exactly like: a fresh C-contiguous array of ``dtype``."""
    return np.array(np.asarray(variant), dtype=dtype, order="C", copy=True)


def same(a, b) -> bool:
    """Bit-identical results: arrays by dtype, shape and bytes; floats by bytes (NaN equals NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return isinstance(b, float) and np.float64(a).tobytes() == np.float64(b).tobytes()
    return a == b


def assert_refused_by_name(call, error, name: str):
    with pytest.raises(error) as info:
        call()
    assert re.search(rf"(^|\W){re.escape(name)}(\W|$)", str(info.value)), (name, str(info.value))


# -- models and their state ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    n_in: int
    hidden: tuple[tuple[int, str], ...]
    n_out: int
    optimizer: str
    dtype: str
    declared_input: bool
    trained: bool
    seed: int

    def build(self) -> npnet.Sequential:
        utils.set_random_seed(self.seed)
        first = [npnet.Input(shape=(self.n_in,))] if self.declared_input else []
        model = npnet.Sequential(first + [Dense(u, activation=a) for u, a in self.hidden]
                                 + [Dense(self.n_out, activation="sigmoid")], dtype=self.dtype)
        optimizer = {"adam": lambda: Adam(learning_rate=0.01), "sgd": lambda: SGD(learning_rate=0.1),
                     "momentum": lambda: SGD(learning_rate=0.1, momentum=0.9, nesterov=True)}[self.optimizer]()
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
        if self.trained:   # so that the optimizer has iterations and slots a bad call could touch
            rng = np.random.default_rng(self.seed)
            model.fit(rng.normal(size=(6, self.n_in)), rng.random((6, self.n_out)) > 0.5, batch_size=4, verbose=0)
        return model


specs = st.builds(
    Spec, n_in=st.integers(1, 5),
    hidden=st.lists(st.tuples(st.integers(1, 6), st.sampled_from(["relu", "tanh", "sigmoid", "linear"])),
                    max_size=2).map(tuple),
    n_out=st.integers(1, 4), optimizer=st.sampled_from(["adam", "sgd", "momentum"]),
    dtype=st.sampled_from(["float32", "float64"]), declared_input=st.booleans(), trained=st.booleans(),
    seed=st.integers(0, 2 ** 16))


def state(model: npnet.Sequential):
    """Everything a call may change: weights, optimizer (iterations, slots), metrics, build, random stream."""
    optimizer = model.optimizer
    slots = optimizer.get_state()   # copies of the step count and every slot (not the scratch arrays)
    return {"built": model.built, "input": model.input_shape, "weights": model.get_weights(),
            "iterations": optimizer.iterations, "slots": slots,
            "metrics": [(m.total, m.count) for m in model._metrics],
            "rng": repr(utils.random_generator().bit_generator.state)}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert same(a[key], b[key]), key


# -- the data a call gets ----------------------------------------------------------------------------------------

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def batches(draw, n_in: int, n_out: int):
    """x (N, I) of finite floats and y (N, K) of hard or soft labels in [0, 1]."""
    n = draw(st.integers(1, 9))
    x = np.array(draw(st.lists(finite, min_size=n * n_in, max_size=n * n_in))).reshape(n, n_in)
    labels = st.sampled_from([0.0, 1.0]) if draw(st.booleans()) else st.floats(0, 1, width=32)
    y = np.array(draw(st.lists(labels, min_size=n * n_out, max_size=n * n_out))).reshape(n, n_out)
    return x, y


def expected_outcome(kind: str, argument: str, dtype: np.dtype, n_out: int):
    """None if the variant must be accepted, else the exception type it must raise."""
    if kind in REFUSED_TYPE:
        return TypeError
    if kind in REFUSED_VALUE:
        return ValueError
    if kind in ("columns", "rows", "over_one", "negative"):
        return ValueError
    if kind == "huge":   # 1e39: finite in float64, inf once converted to float32
        return ValueError if dtype == np.float32 else None
    if kind == "one_d":   # Keras takes (N,) targets for a one-unit output
        return None if argument == "y" and n_out == 1 else ValueError
    return None


def data_variant(base: np.ndarray, kind: str, dtype: np.dtype, position: int):
    if kind == "columns":
        return np.concatenate([base, base[:, :1]], axis=1)
    if kind == "rows":
        return base[:-1] if len(base) > 1 else np.concatenate([base, base])
    if kind == "over_one":
        return base + 1.5
    if kind == "negative":
        return base - 1.5
    if kind == "huge":
        return np.full(base.shape, 1e39)
    if kind == "one_d":
        return base[:, 0]
    return make_variant(base, kind, dtype, position)


X_KINDS = ACCEPTED + REFUSED_TYPE + REFUSED_VALUE + ["columns", "rows", "huge", "one_d"]
Y_KINDS = ACCEPTED + REFUSED_TYPE + REFUSED_VALUE + ["columns", "rows", "over_one", "negative", "one_d"]
METHODS = ["fit", "evaluate", "predict", "__call__", "train_on_batch", "loss_and_gradients", "validation_data"]

# Every variant is its own test case (hypothesis would otherwise favour the first of a list), each
# with a share of the profile's examples: the "ci" profile's 500 give 20 per variant.
per_variant = settings(max_examples=max(settings.default.max_examples // 25, 5))


def call(model, method: str, arguments: dict, batch_size: int, epochs: int, shuffle: bool):
    x, y = arguments["x"], arguments["y"]
    if method == "fit":
        return model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=shuffle, verbose=0).history
    if method == "validation_data":   # the variant goes to fit's validation_data, valid data to x and y
        return model.fit(arguments["train_x"], arguments["train_y"], validation_data=(x, y), batch_size=batch_size,
                         epochs=epochs, shuffle=shuffle, verbose=0).history
    if method == "evaluate":
        return model.evaluate(x, y, batch_size=batch_size, verbose=0)
    if method == "predict":
        return model.predict(x, batch_size=batch_size, verbose=0)
    if method == "__call__":
        return model(x)
    return getattr(model, method)(x, y)


@pytest.mark.parametrize("argument, kind", [("x", k) for k in X_KINDS] + [("y", k) for k in Y_KINDS])
@per_variant
@given(data=st.data())
def test_model_methods_accept_what_keras_accepts_and_refuse_the_rest_by_name(argument, kind, data):
    spec = data.draw(specs, label="spec")
    method = data.draw(st.sampled_from(METHODS if argument == "x" else METHODS[:2] + METHODS[4:]), label="method")
    x, y = data.draw(batches(spec.n_in, spec.n_out), label="x, y")
    if kind in ("over_one", "negative"):
        y = np.clip(y, 0.25, 0.75)   # so that every entry leaves [0, 1]
    batch_size = data.draw(st.integers(1, 2 * len(x) + 3), label="batch_size")
    epochs, shuffle = data.draw(st.integers(0, 2), label="epochs"), data.draw(st.booleans(), label="shuffle")
    position = data.draw(st.integers(0, 10 ** 6), label="position")
    model = spec.build()
    base = x if argument == "x" else y
    arguments = {"x": x, "y": y, argument: data_variant(base, kind, model.dtype, position), "train_x": x,
                 "train_y": y}
    error = expected_outcome(kind, argument, model.dtype, spec.n_out)
    if kind == "columns" and argument == "x" and not model.built and method != "validation_data":
        error = None   # the first data seen sets the input size, as in Keras
    if kind == "rows" and method in ("predict", "__call__"):
        error = None   # no y to disagree with
    event(f"{'refused' if error else 'accepted'}: {kind}")
    utils.set_random_seed(spec.seed + 1)   # fit's shuffling draws from npnet's stream
    if error is not None:
        before = state(model)
        assert_refused_by_name(lambda: call(model, method, arguments, batch_size, epochs, shuffle), error, argument)
        assert_same_state(before, state(model))
        return
    result = call(model, method, arguments, batch_size, epochs, shuffle)
    twin = spec.build()
    plain = {name: canonical(value, model.dtype) for name, value in arguments.items()}
    plain["y"] = plain["y"].reshape(len(plain["y"]), -1)
    utils.set_random_seed(spec.seed + 1)
    expected = call(twin, method, plain, batch_size, epochs, shuffle)
    assert same(result, expected)
    assert_same_state(state(model), state(twin))
    if isinstance(arguments[argument], np.ndarray):   # the caller's array is untouched
        assert same(arguments[argument], data_variant(base, kind, model.dtype, position))


@given(spec=specs, data=st.data())
def test_a_batch_size_larger_than_the_data_is_one_batch_of_all_of_it(spec, data):
    x, y = data.draw(batches(spec.n_in, spec.n_out), label="x, y")
    larger = data.draw(st.integers(len(x) + 1, len(x) + 100), label="batch_size")
    runs = []
    for batch_size in (len(x), larger):
        model = spec.build()
        utils.set_random_seed(spec.seed + 1)
        history = model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0).history
        runs.append((history, model.evaluate(x, y, batch_size=batch_size, verbose=0),
                     model.predict(x, batch_size=batch_size, verbose=0), state(model)))
    (history, evaluation, prediction, after), (history2, evaluation2, prediction2, after2) = runs
    assert same(history, history2) and same(evaluation, evaluation2) and same(prediction, prediction2)
    assert_same_state(after, after2)


# -- losses, metrics, activations, a lone Dense layer ----------------------------------------------------------

LOSS_KINDS = ACCEPTED + REFUSED_TYPE + REFUSED_VALUE + ["columns", "rows", "over_one", "negative", "one_d"]
SHAPE_KINDS = {"columns", "rows", "one_d", "3d", "scalar"}


def loss_call(function: str, y_true, y_pred, from_logits: bool):
    if function == "binary_crossentropy":
        return binary_crossentropy(y_true, y_pred, from_logits=from_logits)
    if function == "BinaryCrossentropy":
        return BinaryCrossentropy(from_logits=from_logits)(y_true, y_pred)
    return binary_accuracy(y_true, y_pred)


@pytest.mark.parametrize("argument, kind", [(a, k) for a in ("y_true", "y_pred") for k in LOSS_KINDS])
@per_variant
@given(data=st.data())
def test_losses_and_metrics_accept_what_keras_accepts_and_refuse_the_rest_by_name(argument, kind, data):
    function = data.draw(st.sampled_from(["binary_crossentropy", "BinaryCrossentropy", "binary_accuracy"]),
                         label="function")
    from_logits = function != "binary_accuracy" and data.draw(st.booleans(), label="from_logits")
    n_out = data.draw(st.integers(1, 4), label="K")
    _, y_true = data.draw(batches(1, n_out), label="y_true")
    if from_logits:
        y_pred = np.array(data.draw(st.lists(finite, min_size=y_true.size, max_size=y_true.size)))
    else:
        y_pred = np.array(data.draw(st.lists(st.floats(0, 1, width=32), min_size=y_true.size,
                                             max_size=y_true.size)))
    y_pred = y_pred.reshape(y_true.shape).astype(np.float32)
    if kind in ("over_one", "negative"):
        y_true, y_pred = np.clip(y_true, 0.25, 0.75), np.clip(y_pred, 0.25, 0.75)
    position = data.draw(st.integers(0, 10 ** 6), label="position")
    arguments = {"y_true": y_true, "y_pred": y_pred}
    arguments[argument] = data_variant(arguments[argument], kind, np.dtype(np.float32), position)

    if kind in REFUSED_TYPE:
        error = TypeError
    elif kind in REFUSED_VALUE or kind in SHAPE_KINDS:
        error = ValueError
    elif kind in ("over_one", "negative"):   # accuracy has no range; logits may be anything
        error = None if function == "binary_accuracy" or (argument == "y_pred" and from_logits) else ValueError
    else:
        error = None
    event(f"{function} {'refused' if error else 'accepted'}: {kind}")
    if error is not None:
        with pytest.raises(error) as info:
            loss_call(function, arguments["y_true"], arguments["y_pred"], from_logits)
        names = {"y_true", "y_pred"} if kind in SHAPE_KINDS else {argument}   # a shape needs both
        assert any(re.search(rf"\b{name}\b", str(info.value)) for name in names), str(info.value)
        return
    # The dtype Keras computes in: a float64 array's float64; lists, ints, bools, float16 -> float32.
    given_pred = arguments["y_pred"]
    dtype = np.dtype(np.float32)
    if (function != "binary_accuracy" and isinstance(given_pred, np.ndarray)
            and given_pred.dtype == np.float64):
        dtype = np.dtype(np.float64)
    plain = {name: canonical(value, dtype) for name, value in arguments.items()}
    result = loss_call(function, arguments["y_true"], arguments["y_pred"], from_logits)
    assert same(result, loss_call(function, plain["y_true"], plain["y_pred"], from_logits))
    assert np.all(np.isfinite(result))


@pytest.mark.parametrize("kind", ACCEPTED + REFUSED_TYPE + ["nan", "inf", "-inf", "empty", "3d", "scalar"])
@per_variant
@given(data=st.data())
def test_activations_accept_real_arrays_of_any_shape_and_refuse_the_rest_by_name(kind, data):
    activation = data.draw(st.sampled_from(["relu", "sigmoid", "tanh", "linear"]), label="activation")
    shape = data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=2), label="shape")
    values = data.draw(st.lists(st.floats(-100, 100, width=32), min_size=shape[0] * shape[1],
                                max_size=shape[0] * shape[1]))
    base = np.array(values).reshape(shape)
    x = make_variant(base, kind, np.dtype(np.float32), data.draw(st.integers(0, 100), label="position"))
    function = activations.get(activation)
    event(f"{activation}: {kind}")
    if kind in REFUSED_TYPE:
        assert_refused_by_name(lambda: function(x), TypeError, "x")
        return
    if kind in ("nan", "inf", "-inf"):   # Keras passes them through; npnet refuses non-finite input everywhere
        assert_refused_by_name(lambda: function(x), ValueError, "x")
        return
    kept = isinstance(x, np.ndarray) and x.dtype.kind == "f"   # float arrays keep their dtype, as in Keras
    before = np.array(x, copy=True) if isinstance(x, np.ndarray) else None
    result = function(x)
    expected = function(canonical(x, x.dtype if kept else np.float32))
    assert same(result, expected)
    if before is not None:
        assert same(x, before)   # the input is not written to


@pytest.mark.parametrize("kind", X_KINDS)
@per_variant
@given(data=st.data())
def test_a_dense_layer_call_accepts_what_keras_accepts_and_refuses_the_rest_by_name(kind, data):
    units = data.draw(st.integers(1, 4), label="units")
    activation = data.draw(st.sampled_from(["relu", "sigmoid", "tanh", "linear"]), label="activation")
    use_bias, prebuilt = data.draw(st.booleans(), label="use_bias"), data.draw(st.booleans(), label="prebuilt")
    x, _ = data.draw(batches(data.draw(st.integers(1, 4), label="I"), 1), label="x")
    position = data.draw(st.integers(0, 10 ** 6), label="position")

    def layer():
        utils.set_random_seed(0)
        made = Dense(units, activation=activation, use_bias=use_bias)
        if prebuilt:
            made.build(x.shape[1])
        return made
    subject = layer()
    dtype = subject.W.dtype if prebuilt else np.dtype(np.float32)
    variant = data_variant(x, kind, dtype, position)
    error = expected_outcome(kind, "x", dtype, n_out=0)
    if kind == "rows" or (kind == "columns" and not prebuilt):
        error = None   # no y to disagree with; an unbuilt layer takes any width
    event(f"Dense {'refused' if error else 'accepted'}: {kind}")
    if error is not None:
        weights = subject.get_weights() if prebuilt else None
        assert_refused_by_name(lambda: subject(variant), error, "x")
        assert subject.built == prebuilt
        if prebuilt:
            assert same(weights, subject.get_weights())
        return
    assert same(subject(variant), layer()(canonical(variant, dtype)))


@pytest.mark.parametrize("kind", X_KINDS + ["tuple", "missing", "extra", "dict"])
@per_variant
@given(spec=specs.filter(lambda s: s.declared_input or s.trained), data=st.data())
def test_set_weights_accepts_what_keras_accepts_and_refuses_the_rest_by_name(kind, spec, data):
    model = spec.build()
    shapes = [w.shape for w in model.get_weights()]
    weights = [np.array(data.draw(st.lists(finite, min_size=int(np.prod(s)), max_size=int(np.prod(s))),
                                  label=f"w{i}")).reshape(s) for i, s in enumerate(shapes)]
    index = data.draw(st.integers(0, len(weights) - 1), label="index")
    position = data.draw(st.integers(0, 10 ** 6), label="position")
    name = f"weights[{index}]"
    given_weights = list(weights)
    if kind == "tuple":
        given_weights, error = tuple(weights), None
    elif kind in ("missing", "extra", "dict"):
        given_weights = {"missing": weights[:-1], "extra": weights + [weights[0]],
                         "dict": dict(enumerate(weights))}[kind]
        error, name = (TypeError if kind == "dict" else ValueError), "weights"
    else:
        base = weights[index]
        if kind in ("columns", "one_d") and base.ndim == 1:
            kind = "3d"   # a bias has no columns
        given_weights[index] = data_variant(base, kind, model.dtype, position)
        error = expected_outcome(kind, "x", model.dtype, n_out=0)
        if kind == "one_d":
            error = ValueError
    event(f"set_weights {'refused' if error else 'accepted'}: {kind}")
    if error is not None:
        before = state(model)
        assert_refused_by_name(lambda: model.set_weights(given_weights), error, name)
        assert_same_state(before, state(model))
        return
    model.set_weights(given_weights)
    twin = spec.build()
    twin.set_weights([canonical(w, model.dtype) for w in given_weights])
    assert_same_state(state(model), state(twin))
