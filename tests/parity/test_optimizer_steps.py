"""Every optimizer and option against Keras 3 (TensorFlow backend), and every schedule at every step.

Both sides start from the same weights and take the same 10 gradients; Keras's
optimizer runs eagerly on four ``keras.Variable``s (two Dense layers' kernel
and bias), npnet's on the same numbers laid end to end in one flat buffer, as
a model hands them over. Measured on Keras 3.15.1 / TensorFlow 2.21.0 /
NumPy 2.4 on this 2-core CPU:

- bit-identical in float32 and float64 for every optimizer and option except
  the two that take a norm: each constant is rounded where Keras rounds it
  (``npnet.optimizers.keras_rounded``) and each elementwise operation runs in
  Keras's order, so each result is the same correctly rounded IEEE operation;
- ``clipnorm`` and ``global_clipnorm``: a sum of squares that TensorFlow
  (Eigen's packet-wise tree) and NumPy (pairwise sum, BLAS dot) add in
  different orders, so the norm differs by a few ulps (relative ~1e-16 / 6e-8).
  The clipped gradient, and each step of size ~lr = 0.01, differ by as much
  relatively: far below one ulp of the weights (|w| ~ 1), so each step can at
  most land on a neighbouring float. Bound: one ulp of max|w| per step, 10 ulps
  after 10 steps. Measured: float32 <= 1.2e-7, float64 <= 2.2e-16 (1 ulp at |w| < 2).
- schedules: bit-identical at every step (C's ``pow`` on both sides), except
  that CosineDecay's cosine is Python's double ``math.cos`` rounded to float32
  where TensorFlow calls C's ``cosf``; both are within half an ulp or so of the
  truth and may differ by one ulp (measured: 0 of 1,200 steps differ; 1 of 101
  arguments in a direct comparison of the two functions).

The contract tests run over ``optimizers.registered()``: a newly registered
optimizer gets the parity and the state round trip without a new line here.
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import interop, optimizers
from npnet.layers import Dense
from npnet.optimizers import schedules


SHAPES = [(6, 4), (4,), (4, 3), (3,)]
SIZES = [int(np.prod(shape)) for shape in SHAPES]
STEPS = 10
OPTIONS = {   # every optimizer with each of these (and lr 0.01 unless the option sets it)
    "plain": {},
    "weight_decay": {"weight_decay": 0.1},
    "clipnorm": {"clipnorm": 0.5},
    "clipvalue": {"clipvalue": 0.3},
    "global_clipnorm": {"global_clipnorm": 0.5},
    "schedule": {"learning_rate": schedules.ExponentialDecay(0.01, 3, 0.5)},
    "callable": {"learning_rate": lambda: 0.02, "weight_decay": 0.05},
}
OWN_OPTIONS = [("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.9, "nesterov": True}),
               ("sgd", {"momentum": 0.9, "nesterov": True, "clipnorm": 0.5}),
               ("adam", {"amsgrad": True}), ("adamw", {"amsgrad": True, "weight_decay": 0.1}),
               ("rmsprop", {"momentum": 0.5}), ("rmsprop", {"centered": True}),
               ("rmsprop", {"centered": True, "momentum": 0.5, "global_clipnorm": 0.5}),
               ("adagrad", {"initial_accumulator_value": 0.3, "epsilon": 1e-3}),
               ("adadelta", {"learning_rate": 1.0, "rho": 0.9}), ("adamax", {"beta_2": 0.9, "epsilon": 1e-3}),
               ("nadam", {"beta_1": 0.5, "beta_2": 0.9})]
NORMS = ("clipnorm", "global_clipnorm")


def _gradients(seed: int = 0):
    """Start weights and 10 gradient sets, each gradient scaled by 10^k, k in [-3, 1] (some clip, some do not)."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=shape) for shape in SHAPES]
    grads = [[rng.normal(size=shape) * 10.0 ** rng.integers(-3, 2) for shape in SHAPES] for _ in range(STEPS)]
    return start, grads


def _keras_optimizer(keras, name: str, config: dict):
    config = dict(config)
    if isinstance(config.get("learning_rate"), schedules.LearningRateSchedule):
        schedule = config["learning_rate"]
        config["learning_rate"] = getattr(keras.optimizers.schedules, type(schedule).__name__)(**schedule.get_config())
    return getattr(keras.optimizers, optimizers.registered()[name].__name__)(**config)


def _trajectories(keras, name: str, config: dict, dtype: str):
    """The flat weights after each step: (npnet's, Keras's), each a list of 10 (P,) arrays."""
    import tensorflow as tf
    start, grads = _gradients()
    keras_optimizer = _keras_optimizer(keras, name, config)
    variables = [keras.Variable(w, dtype=dtype) for w in start]
    optimizer = optimizers.registered()[name](**config)
    values = np.concatenate([w.ravel() for w in start]).astype(dtype)
    optimizer.build([values], variable_sizes=[SIZES])
    ours, theirs = [], []
    for step_grads in grads:
        keras_optimizer.apply_gradients([(tf.constant(g, dtype=dtype), v) for g, v in zip(step_grads, variables)])
        optimizer.apply([(np.concatenate([g.ravel() for g in step_grads]).astype(dtype), values)])
        ours.append(values.copy())
        theirs.append(np.concatenate([v.numpy().ravel() for v in variables]))
    assert optimizer.iterations == int(keras_optimizer.iterations.numpy()) == STEPS
    return ours, theirs


def _assert_parity(ours, theirs, config):
    for step, (a, b) in enumerate(zip(ours, theirs), start=1):
        assert a.dtype == b.dtype
        if any(key in config for key in NORMS):   # the norm's summation order (module docstring)
            np.testing.assert_allclose(a, b, rtol=0, atol=step * np.spacing(np.abs(b).max()),
                                       err_msg=f"after step {step}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"after step {step}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("name", sorted(optimizers.registered()))
def test_every_registered_optimizer_takes_keras_steps_with_every_option(keras, name, option, dtype):
    config = {"learning_rate": 0.01, **OPTIONS[option]}
    _assert_parity(*_trajectories(keras, name, config, dtype), config)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, config", OWN_OPTIONS, ids=[f"{n}-{'-'.join(c)}" for n, c in OWN_OPTIONS])
def test_each_optimizers_own_options_take_keras_steps(keras, name, config, dtype):
    _assert_parity(*_trajectories(keras, name, config, dtype), config)


def test_the_parity_check_sees_a_one_ulp_difference(keras):
    """The comparison can fail: Adam with beta_1 off by one float32 ulp drifts from Keras."""
    ours, theirs = _trajectories(keras, "adam", {"learning_rate": 0.01}, "float64")
    config = {"learning_rate": 0.01, "beta_1": float(np.nextafter(np.float32(0.9), np.float32(1)))}
    nudged, _ = _trajectories(keras, "adam", config, "float64")
    assert not np.array_equal(nudged[-1], theirs[-1])
    np.testing.assert_array_equal(ours[-1], theirs[-1])


# -- the state: saved, restored, resumed exactly ---------------------------------------------------------

@pytest.mark.parametrize("option", ["plain", "clipnorm", "schedule"])
@pytest.mark.parametrize("name", sorted(optimizers.registered()))
def test_every_registered_optimizer_resumes_bit_for_bit_from_its_state(name, option):
    """5 steps, state copied into a fresh optimizer from the config, 5 more == 10 steps without the copy."""
    config = {"learning_rate": 0.01, **OPTIONS[option]}
    start, grads = _gradients(1)
    flat = [np.concatenate([g.ravel() for g in step]) for step in grads]
    straight, resumed = (np.concatenate([w.ravel() for w in start]) for _ in range(2))
    first = optimizers.registered()[name](**config)
    first.build([straight], [SIZES])
    for g in flat:
        first.apply([(g, straight)])
    second = optimizers.registered()[name](**config)
    second.build([resumed], [SIZES])
    for g in flat[:5]:
        second.apply([(g, resumed)])
    third = optimizers.from_config(second.get_config())
    third.build([resumed], [SIZES])
    third.set_state(second.get_state())
    assert third.iterations == 5
    for g in flat[5:]:
        third.apply([(g, resumed)])
    np.testing.assert_array_equal(resumed, straight)
    for key, value in first.get_state().items():
        np.testing.assert_array_equal(third.get_state()[key], value, err_msg=key)


# -- through a model ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, atol", [("float32", 1e-6), ("float64", 1e-15)])   # measured 1.8e-7, 2.2e-16
@pytest.mark.parametrize("option", [{"clipnorm": 0.05}], ids=["clipnorm"])
@pytest.mark.parametrize("name", sorted(optimizers.registered()))
def test_ten_train_on_batch_steps_of_each_optimizer_give_keras_weights(keras, name, option, dtype, atol):
    """The model's path: the flat buffer, with clipnorm per layer weight (this model's gradient norms are
    0.03-0.09, so 0.05 clips some and not others). The tolerance is test_tutorial_model.py's: backprop's
    gradients agree with GradientTape's to float rounding, not bit for bit."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)), (rng.random((64, 3)) < 0.5).astype(float)
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(6,)), Dense(8, activation="relu"), Dense(3, activation="sigmoid")],
                             dtype=dtype)
    model.compile(optimizer=optimizers.registered()[name](learning_rate=0.01, **option),
                  loss="binary_crossentropy")
    keras_model = interop.to_keras(model)
    for _ in range(STEPS):
        model.train_on_batch(x, y)
        keras_model.train_on_batch(x, y)
    for ours, theirs in zip(model.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=atol)


# -- schedules -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(optimizers.registered()))
def test_a_trained_model_goes_on_as_keras_from_the_state_to_keras_hands_over(keras, name):
    """20 steps in npnet, then the state (slots, iterations, Nadam's product) moves to the Keras twin and
    10 more steps agree (npnet.testing's tolerances): a slot mapped wrongly would part them at once."""
    from npnet import testing
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 6)), (rng.random((64, 3)) < 0.5).astype(float)
    npnet.utils.set_random_seed(1)
    model = npnet.Sequential([npnet.Input(shape=(6,)), Dense(8, activation="tanh"), Dense(3, activation="sigmoid")],
                             dtype="float64")
    model.compile(optimizer=optimizers.registered()[name](learning_rate=0.01), loss="binary_crossentropy")
    model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    testing.assert_matches_keras(model, x, y, steps=10)


def test_the_trace_of_a_clipnorm_step_is_the_real_step_and_leaves_the_optimizer_alone():
    """trace applies a copy of the optimizer built as the real step builds it (clipnorm per weight)."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 6)), (rng.random((32, 3)) < 0.5).astype(float)
    npnet.utils.set_random_seed(2)
    model = npnet.Sequential([npnet.Input(shape=(6,)), Dense(8, activation="relu"), Dense(3, activation="sigmoid")],
                             dtype="float64")
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1, clipnorm=0.05), loss="binary_crossentropy")
    before = model.get_weights()
    trace = model.trace(x, y)
    assert model.optimizer.get_state().keys() == {"iterations"} and not model.optimizer.built
    model.train_on_batch(x, y)
    for record, layer, (kernel, bias) in zip(trace.layers, model.layers, zip(before[::2], before[1::2])):
        np.testing.assert_array_equal(record.arrays["update_W"], layer.kernel - kernel)
        np.testing.assert_array_equal(record.arrays["update_b"], layer.bias - bias)
