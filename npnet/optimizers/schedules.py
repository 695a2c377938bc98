"""Learning-rate schedules: the learning rate as a function of the step, as Keras 3 computes it.

An optimizer given a schedule calls it with its ``iterations`` (0 for the
first step) before every step. Keras computes every schedule in float32 (its
``initial_learning_rate`` becomes a float32 tensor and everything else is
cast to that dtype; keras/src/optimizers/schedules/learning_rate_schedule.py),
so each ``__call__`` here does the same operations on ``np.float32`` scalars
and returns an ``np.float32``, which the optimizer then casts to the
parameters' dtype. Formulas: docs/optimizers.md#learning-rate-schedules.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from npnet._validation import check_bool, check_float, check_int

f32 = np.float32


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}")
    return name


def _positive(value: Any, name: str) -> float:
    return check_float(value, name, 0.0, np.inf, low_open=True, high_open=True)


def _steps(value: Any) -> int | float:
    """A positive step count, kept as given (Keras allows a float)."""
    _positive(value, "decay_steps")
    return value


def _non_negative(value: Any, name: str) -> float:
    return check_float(value, name, 0.0, np.inf, high_open=True)


class LearningRateSchedule:
    """``schedule(step) -> np.float32``; ``get_config()``/``from_config`` round-trip the arguments."""

    arguments: tuple[str, ...] = ()

    def __call__(self, step: int) -> np.float32:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.arguments}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "LearningRateSchedule":
        return cls(**config)


class _StepDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments and the progress step / decay_steps."""

    arguments = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name")

    def __init__(self, initial_learning_rate: float, decay_steps: int | float, decay_rate: float, staircase: bool,
                 name: str):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _steps(decay_steps)
        self.decay_rate = _non_negative(decay_rate, "decay_rate")
        self.staircase = check_bool(staircase, "staircase")
        self.name = _check_name(name)

    def _progress(self, step: int) -> np.float32:
        p = f32(step) / f32(self.decay_steps)
        return np.floor(p) if self.staircase else p


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored if ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int | float, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> np.float32:
        return f32(self.initial_learning_rate) * f32(self.decay_rate) ** self._progress(step)


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the ratio floored if ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int | float, decay_rate: float,
                 staircase: bool = False, name: str = "InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> np.float32:
        return f32(self.initial_learning_rate) / (f32(1) + f32(self.decay_rate) * self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while step <= boundaries[0], ``values[i]`` while boundaries[i-1] < step <= boundaries[i],
    then ``values[-1]``; boundaries are integer steps (Keras casts them to the step's integer type)."""

    arguments = ("boundaries", "values", "name")

    def __init__(self, boundaries: Sequence[int], values: Sequence[float], name: str = "PiecewiseConstant"):
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise TypeError("boundaries and values must be lists")
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"the length of boundaries should be 1 less than the length of values, got "
                             f"boundaries={boundaries} of length {len(boundaries)} and values={values} of length "
                             f"{len(values)}")
        self.boundaries = [check_int(b, f"boundaries[{i}]", minimum=0) for i, b in enumerate(boundaries)]
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, got {self.boundaries}")
        self.values = [_positive(v, f"values[{i}]") for i, v in enumerate(values)]
        self.name = _check_name(name)

    def __call__(self, step: int) -> np.float32:
        # Keras sums indicator * value over the intervals; exactly one indicator is 1.
        return f32(self.values[int(np.searchsorted(self.boundaries, step, side="left"))])


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, step capped at decay_steps (or cycling)."""

    arguments = ("initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle", "name")

    def __init__(self, initial_learning_rate: float, decay_steps: int, end_learning_rate: float = 0.0001,
                 power: float = 1.0, cycle: bool = False, name: str = "PolynomialDecay"):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = check_int(decay_steps, "decay_steps", minimum=1)
        self.end_learning_rate = _non_negative(end_learning_rate, "end_learning_rate")
        self.power = _non_negative(power, "power")
        self.cycle = check_bool(cycle, "cycle")
        self.name = _check_name(name)

    def __call__(self, step: int) -> np.float32:
        step_, decay_steps = f32(step), f32(self.decay_steps)
        if self.cycle:   # decay_steps stretched to the next multiple of itself past step
            decay_steps = decay_steps * (f32(1) if step == 0 else np.ceil(step_ / decay_steps))
        else:
            step_ = np.minimum(step_, decay_steps)
        p = step_ / decay_steps
        initial, end = f32(self.initial_learning_rate), f32(self.end_learning_rate)
        return (initial - end) * (f32(1) - p) ** f32(self.power) + end


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then
    ``decay_from * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)`` with s capped at decay_steps.
    """

    arguments = ("initial_learning_rate", "decay_steps", "alpha", "name", "warmup_target", "warmup_steps")

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0, name: str = "CosineDecay",
                 warmup_target: float | None = None, warmup_steps: int = 0):
        self.initial_learning_rate = _non_negative(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = check_int(decay_steps, "decay_steps", minimum=1)
        self.alpha = check_float(alpha, "alpha", 0.0, 1.0)
        self.name = _check_name(name)
        self.warmup_target = None if warmup_target is None else _positive(warmup_target, "warmup_target")
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
        if self.warmup_target is None and self.initial_learning_rate == 0:
            raise ValueError("initial_learning_rate must be > 0 without a warmup_target")

    def _decay(self, step: np.float32, decay_steps: np.float32, decay_from: np.float32) -> np.float32:
        cosine_decayed = f32(0.5) * (f32(1) + f32(math.cos(f32(math.pi) * (step / decay_steps))))
        return decay_from * (f32(1 - self.alpha) * cosine_decayed + f32(self.alpha))

    def __call__(self, step: int) -> np.float32:
        initial, decay_steps, step_ = f32(self.initial_learning_rate), f32(self.decay_steps), f32(step)
        if self.warmup_target is None:
            return self._decay(np.minimum(step_, decay_steps), decay_steps, initial)
        target, warmup_steps = f32(self.warmup_target), f32(self.warmup_steps)
        step_ = np.minimum(step_, decay_steps + warmup_steps)
        if step_ < warmup_steps:
            return (target - initial) * (step_ / warmup_steps) + initial
        return self._decay(step_ - warmup_steps, decay_steps, target)


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                             PolynomialDecay, CosineDecay)}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``, Keras's layout."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(data: Any) -> LearningRateSchedule:
    """The schedule ``serialize`` described."""
    if not isinstance(data, dict) or data.get("class_name") not in _SCHEDULES or not isinstance(data.get("config"),
                                                                                               dict):
        raise ValueError(f"a schedule must be {{'class_name': one of {sorted(_SCHEDULES)}, 'config': {{...}}}}, "
                         f"got {data!r}")
    return _SCHEDULES[data["class_name"]].from_config(data["config"])
