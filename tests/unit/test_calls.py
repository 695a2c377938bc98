"""npnet.calls: a computation as a list of bound calls, run in order."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from npnet.calls import run


def test_run_makes_the_calls_in_order_on_the_arrays_they_were_bound_to():
    a, b = np.array([1.0, 2.0]), np.empty(2)
    calls = [partial(np.multiply, a, 3.0, b), partial(np.add, b, 1.0, b), partial(np.negative, b, a)]
    run(calls)
    np.testing.assert_array_equal(b, [4.0, 7.0])
    np.testing.assert_array_equal(a, [-4.0, -7.0])
    run(calls)   # bound to the arrays, not to the numbers they held: the second run reads a's new values
    np.testing.assert_array_equal(a, [11.0, 20.0])


def test_maximum_is_np_maximum_with_out_positional():
    from npnet.calls import maximum
    a, b, out = np.array([-1.0, 2.0, np.nan]), np.zeros(3), np.empty(3)
    assert maximum(a, b, out) is out
    np.testing.assert_array_equal(out, np.maximum(a, b))   # NaN propagates, as np.maximum's


@pytest.mark.parametrize("values, expected", [
    ([1.0, -2.0, 3.5], True),
    ([1.0, np.nan], False),
    ([np.inf, -np.inf], False),            # the sum is NaN
    ([-np.inf, 1.0], False),
    ([3e38, 3e38], True),                  # finite entries whose float32 sum overflows: checked one by one
    ([3e38, 3e38, np.inf], False),
])
def test_all_finite_agrees_with_isfinite_all_without_warnings(values, expected):
    import warnings

    from npnet._validation import all_finite
    array = np.array(values, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no overflow or invalid-value warning from the sum
        assert all_finite(array) is expected is bool(np.isfinite(array).all())


def _calls_in(calls):
    """Every bound call in ``calls``, descending into the lists a call is bound to (the split step's phases)."""
    for call in calls:
        yield call
        for argument in getattr(call, "args", ()):
            if isinstance(argument, list):
                yield from _calls_in(_flat(argument))


def _flat(nested):
    return [item for element in nested for item in (_flat(element) if isinstance(element, list) else [element])]


def _arrays_of(call):
    """The arrays a call is bound to, also inside tuples (an activation's own method is bound with its
    arguments as a tuple: ``npnet.activations``)."""
    arguments = [*getattr(call, "args", ()), *(getattr(call, "keywords", None) or {}).values()]
    while any(isinstance(argument, tuple) for argument in arguments):
        arguments = [item for argument in arguments
                     for item in (argument if isinstance(argument, tuple) else (argument,))]
    return [argument for argument in arguments if isinstance(argument, np.ndarray)]


def _layers(kind):
    from npnet.layers import BatchNormalization, Dense, Dropout
    return {"relu": [Dense(9, activation="relu"), Dense(7, activation="relu")],
            "sigmoid": [Dense(9, activation="sigmoid"), Dense(7, activation="sigmoid")],
            "tanh": [Dense(9, activation="tanh")],
            "elu, gelu": [Dense(9, activation="elu"), Dense(7, activation="gelu")],
            "dropout": [Dense(9, activation="relu"), Dropout(0.3, seed=1), Dense(7, activation="relu")],
            "batchnorm": [Dense(9), BatchNormalization(), Dense(7, activation="relu")],
            "penalty": [Dense(9, activation="relu", kernel_regularizer="l2", activity_regularizer="l1")]}[kind]


@pytest.mark.parametrize("kind, head, loss, optimizer, split", [
    ("relu", "sigmoid", "binary_crossentropy", "adam", False),          # the tutorial's kind of net
    ("relu", "sigmoid", "binary_crossentropy", "adam", True),           # its split step
    ("relu", "softmax", "categorical_crossentropy", "rmsprop", False),
    ("relu", "linear", "mse", "sgd", False),
    ("sigmoid", "sigmoid", "binary_crossentropy", "nadam", False),
    ("tanh", "linear", "huber", "adagrad", False),
    ("elu, gelu", "softmax", "categorical_crossentropy", "adamax", False),
    ("dropout", "sigmoid", "binary_crossentropy", "adamw", False),
    ("batchnorm", "softmax", "categorical_crossentropy", "adam", False),
    ("penalty", "sigmoid", "binary_crossentropy", "adam", False),
])
def test_no_compiled_call_reads_and_writes_an_array_through_two_objects(monkeypatch, kind, head, loss, optimizer,
                                                                        split):
    """Two arrays handed to one call share memory only if they are the same object (npnet.calls: NumPy
    solves an overlap equation for two views of the same memory on every call). Every call of fit's
    compiled steps and of its validation pass, for each kind of layer, head, loss and optimizer and for
    the split step."""
    import npnet
    from npnet.layers import Dense
    from npnet.training import split as split_module
    from npnet.training.step import Step
    from npnet.training.trainer import ValidationPass

    if split:   # the split step from the smallest step on, two workers (tests/unit/training/test_split.py)
        monkeypatch.setattr(Step, "SPLIT_MIN", 0)
        monkeypatch.setattr(split_module, "blas_threads", lambda: 2)
    programs, compile_steps = [], Step.compile

    def keeping(step, data):
        result = compile_steps(step, data)
        programs.extend(step.programs)
        return result
    monkeypatch.setattr(Step, "compile", keeping)
    bind_validation = ValidationPass._bind

    def keeping_validation(validation_pass):
        bind_validation(validation_pass)
        programs.append(validation_pass.calls)
    monkeypatch.setattr(ValidationPass, "_bind", keeping_validation)
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(70, 5)).astype(np.float32), rng.integers(0, 3, 70)
    y = np.eye(3, dtype=np.float32)[labels] if head == "softmax" else (rng.random((70, 3)) < 0.5).astype(np.float32)
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(5,)), *_layers(kind), Dense(3, activation=head)])
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, validation_split=0.2)
    assert len(programs) == 2 + (kind != "penalty")   # 56 rows in 2 steps; the pass, unless a penalty needs batches
    calls = [call for program in programs for call in _calls_in(program)]
    assert len(calls) > 2 * 10   # two steps, each of a dozen calls or more
    assert split == any(isinstance(getattr(getattr(call, "func", None), "__self__", None), split_module.Workers)
                        for call in calls)
    shared = {(getattr(call, "func", call), a.shape) for call in calls for i, a in enumerate(_arrays_of(call))
              for b in _arrays_of(call)[i + 1:] if a is not b and np.may_share_memory(a, b)}
    assert not shared
