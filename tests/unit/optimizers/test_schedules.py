"""npnet.optimizers.schedules: a learning rate that follows a schedule, and every schedule's value against Keras 3."""
from __future__ import annotations

import numpy as np
import pytest

from npnet import optimizers
from npnet.optimizers import schedules


def test_learning_rate_follows_the_schedule_and_refuses_a_number_over_it():
    optimizer = optimizers.SGD(learning_rate=schedules.PiecewiseConstantDecay([1], [0.5, 0.25]))
    w = np.ones(2)
    assert optimizer.learning_rate == 0.5
    optimizer.apply_gradients([(np.ones(2), w)])
    optimizer.apply_gradients([(np.ones(2), w)])
    assert optimizer.learning_rate == 0.25
    np.testing.assert_array_equal(w, 1 - 0.5 - 0.5)   # steps 0 and 1 are both <= the boundary 1
    with pytest.raises(TypeError, match="cannot be set to a number"):
        optimizer.learning_rate = 0.1
    optimizer.learning_rate = schedules.ExponentialDecay(0.1, 10, 0.5)   # a schedule may replace a schedule
    constant = optimizers.SGD(learning_rate=0.1)
    constant.learning_rate = 0.2                                     # as ReduceLROnPlateau does
    assert constant.get_config()["learning_rate"] == 0.2
    assert constant.learning_rate == float(np.float32(0.2)) != 0.2    # as Keras's float32 variable reads


def test_a_callable_learning_rate_is_called_with_nothing_and_checked_before_any_change():
    rates = iter([0.5, float("nan")])
    optimizer = optimizers.Adam(learning_rate=lambda: next(rates))
    w = np.ones(3)
    optimizer.apply_gradients([(np.ones(3), w)])
    before, state = w.copy(), optimizer.get_state()
    with pytest.raises(ValueError, match="the learning_rate callable must return a finite number > 0, got nan"):
        optimizer.apply_gradients([(np.ones(3), w)])
    np.testing.assert_array_equal(w, before)
    assert optimizer.iterations == 1 and optimizer.get_state().keys() == state.keys()
    with pytest.raises(TypeError, match="a callable learning_rate cannot be written to a config"):
        optimizer.get_config()


# == Every schedule's value at every step, against Keras 3 ===========================================

SCHEDULES = [schedules.ExponentialDecay(0.1, 7, 0.96), schedules.ExponentialDecay(0.1, 7, 0.5, staircase=True),
             schedules.InverseTimeDecay(0.1, 5, 0.5), schedules.InverseTimeDecay(0.1, 5, 0.5, staircase=True),
             schedules.PiecewiseConstantDecay([10, 50, 120], [0.1, 0.05, 0.01, 0.001]),
             schedules.PolynomialDecay(0.1, 100), schedules.PolynomialDecay(0.1, 30, 0.001, power=0.5, cycle=True),
             schedules.PolynomialDecay(0.1, 30, 0.001, power=2.0),
             schedules.CosineDecay(0.1, 100), schedules.CosineDecay(0.1, 100, alpha=0.1),
             schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=20),
             schedules.CosineDecay(0.01, 77, alpha=0.05, warmup_target=0.3, warmup_steps=13)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: f"{type(s).__name__}-{s.get_config()}")
def test_each_schedules_value_at_every_step_is_keras_s(keras, schedule):
    import tensorflow as tf
    keras_schedule = getattr(keras.optimizers.schedules, type(schedule).__name__)(**schedule.get_config())
    steps = range(300)
    ours = np.array([schedule(step) for step in steps])
    theirs = np.array([keras_schedule(tf.constant(step, dtype="int64")).numpy() for step in steps])
    assert ours.dtype == theirs.dtype == np.float32
    if isinstance(schedule, schedules.CosineDecay):   # math.cos rounded vs C's cosf (test_optimizer_steps.py)
        np.testing.assert_array_max_ulp(ours, theirs, maxulp=1)
    else:
        np.testing.assert_array_equal(ours, theirs)
    assert keras_schedule.get_config() == schedule.get_config()
