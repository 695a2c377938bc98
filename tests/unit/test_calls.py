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


def _fit(kind, head, loss, optimizer, rows, **options):
    """One epoch of fit on ``rows`` random rows of 5 inputs, for a net of ``_layers(kind)`` and a head of 3."""
    import npnet
    from npnet.layers import Dense
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(rows, 5)).astype(np.float32), rng.integers(0, 3, rows)
    y = np.eye(3, dtype=np.float32)[labels] if head == "softmax" else (rng.random((rows, 3)) < 0.5).astype(np.float32)
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(5,)), *_layers(kind), Dense(3, activation=head)])
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(x, y, epochs=1, verbose=0, **options)


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
    _fit(kind, head, loss, optimizer, 70, batch_size=32, validation_split=0.2)
    assert len(programs) == 2 + (kind != "penalty")   # 56 rows in 2 steps; the pass, unless a penalty needs batches
    calls = [call for program in programs for call in _calls_in(program)]
    assert len(calls) > 2 * 10   # two steps, each of a dozen calls or more
    assert split == any(isinstance(getattr(getattr(call, "func", None), "__self__", None), split_module.Workers)
                        for call in calls)
    shared = {(getattr(call, "func", call), a.shape) for call in calls for i, a in enumerate(_arrays_of(call))
              for b in _arrays_of(call)[i + 1:] if a is not b and np.may_share_memory(a, b)}
    assert not shared


@pytest.mark.parametrize("kind, head, loss, optimizer", [
    ("relu", "sigmoid", "binary_crossentropy", "adam"),          # the tutorial's kind of net
    ("relu", "softmax", "categorical_crossentropy", "rmsprop"),
    ("tanh", "linear", "mse", "sgd"),
    ("penalty", "sigmoid", "binary_crossentropy", "adam"),
    ("dropout", "sigmoid", "binary_crossentropy", "adamw"),
])
def test_the_steps_of_one_batch_size_bind_the_same_objects_but_for_the_batch_s_own(monkeypatch, kind, head, loss,
                                                                                optimizer):
    """npnet.calls.LastBinding: fit's steps of one batch size hand their layers the same arrays, and the
    layers give back the calls they bound to them, so every call of step k reads the same array objects
    as step 0's call at its place, but those of the batch's own: its rows of x, y and of the epoch's
    outputs and probabilities, and its own Adam step size."""
    from npnet.training.step import Step

    kept = {}
    compile_steps = Step.compile

    def keeping(step, data):
        outputs, probabilities = compile_steps(step, data)
        kept.update(programs=step.programs, epoch_arrays=[data.x, data.y, outputs, probabilities],
                    step_sizes=getattr(step.optimizer, "_step_sizes", []))
        return outputs, probabilities
    monkeypatch.setattr(Step, "compile", keeping)
    _fit(kind, head, loss, optimizer, 100, batch_size=20)

    def own(array):   # the batch's own rows of the epoch's arrays, or its step's own step size
        return (any(array is size for size in kept["step_sizes"])
                or any(np.may_share_memory(array, epoch) for epoch in kept["epoch_arrays"] if epoch is not None))
    first, *others = kept["programs"]
    assert len(others) == 4
    for program in others:
        assert [getattr(call, "func", call) for call in program] == [getattr(call, "func", call) for call in first]
        for call, call_0 in zip(program, first):
            for array, array_0 in zip(_arrays_of(call), _arrays_of(call_0), strict=True):
                assert array is array_0 or own(array) and own(array_0), (getattr(call, "func", call), array.shape)


def test_last_binding_gives_its_value_back_for_the_same_objects_only():
    from npnet.calls import LastBinding
    a = np.zeros(3)
    binding = LastBinding()
    assert binding.get((a, True)) is None   # nothing bound yet
    binding.set((a, True), "calls")
    assert binding.get((a, True)) == "calls"
    assert binding.get((a.copy(), True)) is None   # equal numbers, another array
    assert binding.get((a[:], True)) is None       # the same memory, another view
    assert binding.get((a, False)) is None and binding.get((a,)) is None and binding.get((a, True, None)) is None
    binding.set((a[:2],), "other")
    assert binding.get((a, True)) is None          # it keeps its last binding only


def test_views_are_made_once_per_site_while_it_is_handed_the_same_array():
    from npnet.calls import Views, transposed, without_last_column
    a, b = np.zeros((4, 3)), np.zeros((4, 3))
    views = Views()
    kept = views("x^T", a, transposed)
    assert kept.base is a and kept.shape == (3, 4)
    assert views("z", b, without_last_column) is views("z", b, without_last_column)   # another site in between
    assert views("x^T", a, transposed) is kept
    assert views("x^T", a[:], transposed) is not kept   # another object, though the same memory
    assert views("x^T", a, transposed) is not kept      # a site keeps its last array only (as a layer its input)


def test_a_copy_of_a_binding_or_of_views_starts_empty():
    """Their keys are the original's objects: in a copy, an array at another address, or anything later
    made at the original's, must not find them."""
    import copy
    import pickle

    from npnet.calls import LastBinding, Views, transposed
    a = np.zeros((4, 3))
    binding, views = LastBinding(), Views()
    binding.set((a,), "calls")
    view = views("x^T", a, transposed)
    for copied_binding, copied_views in ((copy.deepcopy(binding), copy.deepcopy(views)),
                                         pickle.loads(pickle.dumps((binding, views)))):
        assert copied_binding.get((a,)) is None and copied_binding.key == ()
        assert copied_views("x^T", a, transposed) is not view
