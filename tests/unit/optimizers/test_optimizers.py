"""Adam and SGD against values computed by hand (plain Python floats), step by step; then what every
registered optimizer must do (allocate nothing per step, check arguments and state, follow schedules).
Parity with Keras for every optimizer: tests/parity/test_optimizer_steps.py.

The hand computations use float64 scalars and follow API.md's Keras 3 rules,
with lr, momentum, beta_1 and beta_2 rounded to float32 as Keras does in
every dtype (npnet.optimizers.keras_rounded explains why); npnet runs in float64 here,
so agreement is to rounding (measured: <= 2e-16 relative; tolerance 1e-13). An epsilon of 0.1 makes Keras's placement and the
paper's differ by ~10% per step, so a paper-form Adam would fail these tests.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from npnet import optimizers
from npnet.optimizers import SGD, Adam, get, schedules
from npnet.optimizers.base import keras_rounded


GRADIENTS = [[0.5, -1.0, 2.0], [0.25, 0.0, -3.0], [-0.75, 1.5, 0.125]]   # three steps, three weights
START = [1.0, -2.0, 0.5]


def _run(optimizer, dtype=np.float64):
    w = np.array(START, dtype=dtype)
    trajectory = []
    for g in GRADIENTS:
        optimizer.apply_gradients([(np.array(g, dtype=dtype), w)])
        trajectory.append(w.copy())
    return trajectory


def f32(value):
    """``value`` rounded to float32, as Keras rounds Adam's lr and betas."""
    return float(np.float32(value))


def _adam_by_hand(lr, beta_1, beta_2, epsilon):
    w, m, v, out = list(START), [0.0] * 3, [0.0] * 3, []
    for t, g in enumerate(GRADIENTS, start=1):
        alpha = f32(lr) * math.sqrt(1 - f32(beta_2) ** t) / (1 - f32(beta_1) ** t)
        for i in range(3):
            m[i] += (g[i] - m[i]) * (1 - beta_1)
            v[i] += (g[i] * g[i] - v[i]) * (1 - beta_2)
            w[i] -= alpha * m[i] / (math.sqrt(v[i]) + epsilon)
        out.append(list(w))
    return out


@pytest.mark.parametrize("lr, beta_1, beta_2, epsilon", [(0.001, 0.9, 0.999, 1e-7), (0.1, 0.5, 0.9, 0.1)])
def test_adam_follows_the_keras3_rule_for_three_steps(lr, beta_1, beta_2, epsilon):
    adam = Adam(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    for got, expected in zip(_run(adam), _adam_by_hand(lr, beta_1, beta_2, epsilon)):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert adam.iterations == 3


def test_adam_with_large_epsilon_is_not_the_paper_form():
    """The paper divides the bias-corrected m_hat by sqrt(v_hat) + eps: a different first step."""
    g, lr, eps = 0.5, 0.1, 0.1
    alpha = f32(lr) * math.sqrt(1 - f32(0.999)) / (1 - f32(0.9))
    keras_form = START[0] - alpha * (0.1 * g) / (math.sqrt(0.001 * g * g) + eps)
    paper_form = START[0] - lr * g / (abs(g) + eps)
    w = np.array(START[:1])
    Adam(learning_rate=lr, epsilon=eps).apply_gradients([(np.array([g]), w)])
    assert w[0] == pytest.approx(keras_form, rel=1e-13)
    assert abs(w[0] - paper_form) > 0.05


def test_adam_first_step_is_lr_times_sign_softened_by_epsilon_hat():
    """Step 1: m = 0.1 g, v = 0.001 g^2, alpha ~ lr sqrt(0.001) / 0.1, so w -= lr g / (|g| + eps / sqrt(0.001)).

    "~": alpha uses float32-rounded lr and betas (a relative 6.6e-6; tolerance 1e-5).
    """
    g = np.array([3.0, -0.01, 1e-3, 0.0])
    w = np.zeros(4)
    Adam().apply_gradients([(g, w)])
    np.testing.assert_allclose(w, -0.001 * g / (np.abs(g) + 1e-7 / math.sqrt(0.001)), rtol=1e-5)


def test_adam_in_float32_stays_float32_and_close_to_float64():
    w32 = _run(Adam(learning_rate=0.01), np.float32)
    w64 = _run(Adam(learning_rate=0.01), np.float64)
    assert all(w.dtype == np.float32 for w in w32)
    np.testing.assert_allclose(w32[-1], w64[-1], rtol=1e-6)   # measured 1.6e-7 relative


def test_plain_sgd_is_w_minus_lr_g():
    expected, w = [], list(START)
    for g in GRADIENTS:
        w = [wi - gi * f32(0.1) for wi, gi in zip(w, g)]
        expected.append(w)
    for got, want in zip(_run(SGD(learning_rate=0.1)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_follows_keras(nesterov):
    lr, mu = f32(0.1), f32(0.9)
    w, velocity, expected = list(START), [0.0] * 3, []
    for g in GRADIENTS:
        for i in range(3):
            velocity[i] = mu * velocity[i] - lr * g[i]
            w[i] += mu * velocity[i] - lr * g[i] if nesterov else velocity[i]
        expected.append(list(w))
    for got, want in zip(_run(SGD(learning_rate=lr, momentum=mu, nesterov=nesterov)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_apply_gradients_updates_several_arrays_in_place():
    kernel, bias = np.ones((2, 2)), np.zeros(2)
    kernel_id = id(kernel)
    SGD(learning_rate=0.5).apply_gradients(zip([np.full((2, 2), 2.0), np.array([1.0, -1.0])], [kernel, bias]))
    assert id(kernel) == kernel_id
    np.testing.assert_array_equal(kernel, np.zeros((2, 2)))
    np.testing.assert_array_equal(bias, [-0.5, 0.5])


def test_optimizers_by_name_and_config_round_trip():
    assert isinstance(get("adam"), Adam) and isinstance(get("SGD"), SGD)
    adam = Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-5)
    no_clipping = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None}
    assert adam.get_config() == {"name": "adam", "learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99,
                                 "epsilon": 1e-5, "amsgrad": False, **no_clipping}
    assert SGD(momentum=0.5, nesterov=True).get_config() == {"name": "sgd", "learning_rate": 0.01,
                                                             "momentum": 0.5, "nesterov": True, **no_clipping}


# -- every registered optimizer: allocation, validation, learning rates, state ------------------------------

EVERY_OPTION = [{}, {"weight_decay": 0.01}, {"clipnorm": 0.5}, {"clipvalue": 0.1}, {"global_clipnorm": 0.5},
                {"learning_rate": schedules.CosineDecay(0.01, 100, warmup_target=0.1, warmup_steps=5)}]


@pytest.mark.parametrize("option", EVERY_OPTION, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("name", sorted(optimizers.registered()))
def test_a_step_allocates_nothing_the_size_of_the_parameters(name, option):
    """After the first step built the slots, a step on 100,000 parameters allocates under 4 KB (one
    (P,) float64 temporary would be 800 KB): clipping and weight decay write into scratch slots."""
    import tracemalloc
    rng = np.random.default_rng(0)
    params, grads = rng.normal(size=100_000), rng.normal(size=100_000)
    optimizer = optimizers.registered()[name](**option)
    optimizer.build([params], [[60_000, 40_000]])
    optimizer.apply([(grads, params)])
    tracemalloc.start()
    for _ in range(3):
        optimizer.apply([(grads, params)])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4096, peak


@pytest.mark.parametrize("make, error, message", [
    (lambda: optimizers.RMSprop(clipnorm=1.0, clipvalue=1.0), ValueError, "only one of clipnorm, clipvalue"),
    (lambda: optimizers.Adagrad(clipnorm=0.0), ValueError, r"clipnorm must be in \(0.0, inf\)"),
    (lambda: optimizers.Nadam(weight_decay=-1.0), ValueError, r"weight_decay must be in \[0.0, inf\)"),
    (lambda: optimizers.AdamW(weight_decay=None), ValueError, "weight_decay must be a float for AdamW"),
    (lambda: optimizers.RMSprop(rho=1.0), ValueError, r"rho must be in \[0.0, 1.0\)"),
    (lambda: optimizers.RMSprop(centered="yes"), TypeError, "centered must be a bool"),
    (lambda: optimizers.Adam(amsgrad=1), TypeError, "amsgrad must be a bool"),
    (lambda: optimizers.Adadelta(epsilon=0.0), ValueError, r"epsilon must be in \(0.0, inf\)"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=-0.1), ValueError, "initial_accumulator_value must be in"),
    (lambda: optimizers.SGD(learning_rate="0.1"), TypeError, "learning_rate must be a real number"),
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), ValueError, r"decay_steps must be in \(0.0, inf\)"),
    (lambda: schedules.PiecewiseConstantDecay([10, 5], [0.1, 0.2, 0.3]), ValueError, "strictly increasing"),
    (lambda: schedules.PiecewiseConstantDecay([10], [0.1]), ValueError, "1 less than the length of values"),
    (lambda: schedules.PolynomialDecay(0.1, 10, cycle=1), TypeError, "cycle must be a bool"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=2.0), ValueError, r"alpha must be in \[0.0, 1.0\]"),
    (lambda: schedules.deserialize({"class_name": "CosineDecayRestarts", "config": {}}), ValueError,
     "a schedule must be"),
    (lambda: optimizers.from_config({"name": "lion"}), ValueError, "an optimizer config must be a dict naming"),
])
def test_optimizers_and_schedules_refuse_bad_arguments_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("name", sorted(optimizers.registered()))
def test_config_round_trips_with_a_schedule_and_every_option(name):
    schedule = schedules.PiecewiseConstantDecay([3, 6], [0.1, 0.01, 0.001])
    optimizer = optimizers.registered()[name](learning_rate=schedule, weight_decay=0.5, global_clipnorm=2.0)
    config = optimizer.get_config()
    assert config["learning_rate"] == {"class_name": "PiecewiseConstantDecay",
                                       "config": {"boundaries": [3, 6], "values": [0.1, 0.01, 0.001],
                                                  "name": "PiecewiseConstant"}}
    again = optimizers.from_config(config)
    assert type(again) is type(optimizer) and again.get_config() == config
    assert optimizers.get(name.upper()).get_config()["name"] == name


def test_weight_decay_is_keras_s_decoupled_lr_scaled_shrink_before_the_step():
    """SGD with wd: w <- w - w * wd * lr, then w <- w - lr * g (lr and wd through float32, as Keras casts them)."""
    w = np.array([1.0, -2.0])
    optimizers.SGD(learning_rate=0.1, weight_decay=0.5).apply_gradients([(np.array([0.25, 1.0]), w)])
    lr, wd = f32(0.1), f32(0.5)
    start = np.array([1.0, -2.0])
    np.testing.assert_array_equal(w, (start - start * wd * lr) - np.array([0.25, 1.0]) * lr)


def test_clipnorm_clips_each_variable_and_global_clipnorm_all_together():
    grads, sizes = np.array([3.0, 4.0, 0.0, 0.1]), [[2, 2]]      # norms 5 and 0.1; together ~5.001
    for option, expected in [({"clipnorm": 1.0}, [0.6, 0.8, 0.0, 0.1]),
                             ({"global_clipnorm": 1.0}, grads / np.sqrt(25.01)),
                             ({"clipvalue": 0.5}, [0.5, 0.5, 0.0, 0.1])]:
        w = np.zeros(4)
        optimizer = optimizers.SGD(learning_rate=1.0, **option)
        optimizer.build([w], sizes)
        optimizer.apply([(grads, w)])
        np.testing.assert_allclose(-w, expected, rtol=1e-15)
    np.testing.assert_array_equal(grads, [3.0, 4.0, 0.0, 0.1])   # the caller's gradients are left alone


@pytest.mark.parametrize("name", sorted(optimizers.registered()))
def test_set_state_checks_everything_before_changing_anything(name):
    w = np.ones(4)
    optimizer = optimizers.registered()[name]()
    with pytest.raises(ValueError, match="build the optimizer"):
        optimizer.set_state({"iterations": np.array(3)})
    optimizer.apply_gradients([(np.full(4, 0.5), w)])
    state = optimizer.get_state()
    broken = {**state, **{key: np.full_like(value, np.inf) for key, value in state.items() if key != "iterations"}}
    if len(broken) > 1:
        with pytest.raises(ValueError, match="NaN/inf"):
            optimizer.set_state({**broken, "iterations": np.array(7)})
    with pytest.raises(ValueError, match="must hold exactly"):
        optimizer.set_state({**state, "extra_0": np.zeros(4)})
    with pytest.raises(TypeError, match="state must be a dict"):
        optimizer.set_state([state])
    assert optimizer.iterations == 1
    for key, value in optimizer.get_state().items():
        np.testing.assert_array_equal(value, state[key])
    optimizer.set_state({"iterations": np.array(0)})    # what an optimizer that never stepped saves
    assert optimizer.iterations == 0 and not optimizer.built


@pytest.mark.parametrize("name, config", [
    ("adam", {}), ("adam", {"amsgrad": True}), ("adamw", {}), ("adam", {"clipnorm": 0.5}), ("sgd", {"momentum": 0.9}),
    ("adam", {"learning_rate": schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5)}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_apply_calls_are_apply_bit_for_bit(name, config, dtype):
    """fit's compiled update (``apply_calls``, bound once, run every step) against ``apply``, step by step.

    Adam writes its update as NumPy calls, with alpha_t of each of an epoch's steps computed before the
    epoch (``prepare_steps``: two epochs of 3 steps here, the schedule's learning rate changing within
    them); with clipping or weight decay, and for the other optimizers, the calls are one call of
    ``apply``. Either way the same arithmetic: equal to the bit, ``iterations`` too.
    """
    rng = np.random.default_rng(0)
    gradients = rng.normal(size=(2, 3, 7)).astype(dtype)
    plain, compiled = (type(get(name))(**config) for _ in range(2))
    w_plain, g = rng.normal(size=7).astype(dtype), np.empty(7, dtype)
    w_compiled = w_plain.copy()
    plain.build([w_plain])
    compiled.build([w_compiled])
    programs = [compiled.apply_calls([(g, w_compiled)], step) for step in range(3)]
    for epoch in gradients:
        compiled.prepare_steps(0, len(programs))
        for step, calls in zip(epoch, programs):
            plain.apply([(step, w_plain)])
            np.copyto(g, step)
            for call in calls:
                call()
            np.testing.assert_array_equal(w_compiled, w_plain)
            assert compiled.iterations == plain.iterations
    for key, value in plain.get_state().items():
        np.testing.assert_array_equal(compiled.get_state()[key], value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("learning_rate", [0.001, schedules.ExponentialDecay(0.01, decay_steps=7, decay_rate=0.9)])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.75), (0.95, 0.9999)])
def test_prepare_steps_computes_each_alpha_as_step_size_does_one_step_at_a_time(dtype, learning_rate, betas):
    """``prepare_steps`` computes an epoch's alpha_t with array operations (the powers as scalars): each
    must be ``step_size``'s scalar value for its own step, to the bit, after the rate changed too, and where
    float32's t is no longer the integer (2^24 + 1 rounds to 2^24); ``iterations`` untouched."""
    optimizer = Adam(learning_rate, beta_1=betas[0], beta_2=betas[1])
    w = np.zeros(3, dtype)
    optimizer.build([w])
    for step in range(50):
        optimizer.apply_calls([(np.zeros(3, dtype), w)], step)
    beta_1, beta_2 = keras_rounded(betas[0], dtype), keras_rounded(betas[1], dtype)
    for iterations in (0, 1, 230, 999, "new rate", 999, 123_457, 2**24 - 10):   # 230: past those computed ahead
        if iterations == "new rate":   # as a callback sets it between epochs; a schedule stays
            if type(learning_rate) is float:
                optimizer.learning_rate = 0.003
            continue
        optimizer.iterations = iterations
        optimizer.prepare_steps(3, 40)   # steps 3 .. 42 of an epoch, the next 40 to run
        for done, alpha in enumerate(optimizer._step_sizes[3:43], iterations):
            lr = keras_rounded(optimizer._current_learning_rate(done), dtype)
            expected = optimizer.step_size(lr, dtype(done + 1), beta_1, beta_2)
            assert alpha.dtype == dtype and alpha[()] == expected, (iterations, done)
        assert optimizer.iterations == iterations


def test_prepare_steps_runs_a_subclass_s_own_step_size_and_one_planted_into_adam():
    """A subclass's ``step_size`` written for one step (scalars) gets one step at a time; a ``step_size``
    patched into Adam itself (the bug catalogue's) is what runs, before and after the patch, as in apply."""
    class Halved(Adam):
        def step_size(self, learning_rate, t, beta_1, beta_2):
            return float(learning_rate) / 2 * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)

    for optimizer, factor in ((Halved(0.01), 0.5), (Adam(0.01), 1.0)):
        w = np.zeros(3, np.float32)
        optimizer.build([w])
        for step in range(2):
            optimizer.apply_calls([(np.zeros(3, np.float32), w)], step)
        optimizer.prepare_steps(0, 2)
        expected = np.float32(0.01) * np.sqrt(1 - np.float32(0.999)) / (1 - np.float32(0.9))
        assert optimizer._step_sizes[0][()] == np.float32(factor * expected)
        assert optimizer._step_sizes[1][()] == np.float32(optimizer.step_size(   # its own, at t = 2
            np.float32(0.01), np.float32(2), np.float32(0.9), np.float32(0.999)))
    original = Adam.step_size
    try:
        Adam.step_size = lambda self, learning_rate, t, beta_1, beta_2: np.full_like(t, learning_rate)
        optimizer.prepare_steps(0, 1)
        assert optimizer._step_sizes[0][()] == np.float32(0.01)
    finally:
        Adam.step_size = original
    optimizer.prepare_steps(0, 1)
    assert optimizer._step_sizes[0][()] == expected


def test_apply_calls_give_a_subclass_s_own_update_calls_the_arguments_it_takes():
    # An Adam subclass written against update_calls(grad, param, slots) must still train in fit's
    # compiled step (Adam's own update_calls also takes the model's gradient rows).
    class Logged(Adam):
        def update_calls(self, grad, param, slots):
            return super().update_calls(grad, param, slots)

    plain, compiled = Adam(0.1), Logged(0.1)
    w_plain, g = np.ones(3, np.float32), np.zeros((2, 3), np.float32)[0]   # g: the first row, as a model's buffer
    g[...] = [0.5, -1.0, 2.0]
    w_compiled = w_plain.copy()
    plain.build([w_plain])
    compiled.build([w_compiled])
    plain.apply([(g.copy(), w_plain)])
    calls = compiled.apply_calls([(g, w_compiled)], 0)
    compiled.prepare_steps(0, 1)
    for call in calls:
        call()
    np.testing.assert_array_equal(w_compiled, w_plain)


def test_apply_calls_run_a_subclass_s_own_update_step():
    # A subclass of Adam that rewrites ``update_step`` (a learner's variant, a bug planted by patching it)
    # must have that update run in fit's compiled step, not Adam's calls.
    class HalfStepAdam(Adam):
        def update_step(self, grad, param, slots, learning_rate):
            super().update_step(grad, param, slots, learning_rate / 2)

    plain, compiled = HalfStepAdam(0.1), HalfStepAdam(0.1)
    w_plain, g = np.ones(3, np.float32), np.array([0.5, -1.0, 2.0], np.float32)
    w_compiled = w_plain.copy()
    plain.build([w_plain])
    compiled.build([w_compiled])
    plain.apply([(g, w_plain)])
    for call in compiled.apply_calls([(g, w_compiled)], 0):
        call()
    np.testing.assert_array_equal(w_compiled, w_plain)


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_s_stacked_and_separate_moments_are_the_same_arithmetic(amsgrad, dtype, monkeypatch):
    """Adam keeps [m; v] as one (2, P) array up to ``STACKED_MAX`` parameters and as two (P,) arrays above
    it: the same operations on every element, so the same bits, in fit's compiled step and in ``apply``."""
    import npnet
    from npnet.layers import Dense

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 5)), (rng.random((64, 2)) < 0.5).astype(float)
    gradients = rng.normal(size=(4, 9)).astype(dtype)
    results = []
    for stacked_max in (Adam.STACKED_MAX, 0):
        monkeypatch.setattr(Adam, "STACKED_MAX", stacked_max)
        npnet.utils.set_random_seed(0)
        model = npnet.Sequential([npnet.Input(shape=(5,)), Dense(6, activation="relu"), Dense(2, activation="sigmoid")],
                                 dtype=dtype)
        model.compile(optimizer=Adam(0.01, amsgrad=amsgrad), loss="binary_crossentropy")
        model.fit(x, y, batch_size=16, epochs=3, verbose=0)
        plain, w = Adam(0.01, amsgrad=amsgrad), np.linspace(-1, 1, 9).astype(dtype)
        for step in gradients:
            plain.apply([(step, w)])
        assert ("moments" in model.optimizer._slots[0]) is (stacked_max > 0)
        results.append((model.get_weights(), model.optimizer.get_state(), w, plain.get_state()))
    (weights, state, w, plain_state), (weights_1, state_1, w_1, plain_state_1) = results
    for ours, theirs in zip(weights + [w], weights_1 + [w_1]):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in ((state, state_1), (plain_state, plain_state_1)):
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_updates_a_scalar_parameter_as_the_same_value_in_a_vector(amsgrad):
    # apply_gradients takes 0-d arrays (a Keras scalar variable). Adam's stacked [m; v] (2,) must then
    # have 0-d rows: iterating it gives NumPy scalars, detached copies that no update can write.
    scalar, vector = np.array(1.0, np.float32), np.array([1.0], np.float32)
    on_scalar, on_vector = Adam(0.1, amsgrad=amsgrad), Adam(0.1, amsgrad=amsgrad)
    for g in (2.0, -0.5, 1.25):
        on_scalar.apply_gradients([(np.array(g, np.float32), scalar)])
        on_vector.apply_gradients([(np.array([g], np.float32), vector)])
    np.testing.assert_array_equal(scalar, vector[0])   # the same operations on the same numbers: the same bits
    state, vector_state = on_scalar.get_state(), on_vector.get_state()
    for key in ("momentum_0", "velocity_0"):
        assert state[key].shape == () and state[key] == vector_state[key][0], key
