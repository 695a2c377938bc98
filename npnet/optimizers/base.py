"""The optimizer base: learning rate, clipping, weight decay, slots and state, as Keras 3's ``BaseOptimizer``.

A model hands its optimizer one pair: the flat gradient buffer (P,) and the
flat parameter buffer (P,) (see ``npnet.params``), so one step is a handful of
whole-array statements with no loop over layers. ``apply_gradients`` also
takes any list of (gradient, parameter) array pairs, as in Keras; each array
is then one Keras variable.

One step, in Keras's order (keras/src/optimizers/base_optimizer.py,
``_backend_apply_gradients``): the learning rate at ``iterations`` (a float,
a schedule called with ``iterations``, or a callable called with nothing);
gradients clipped (``clipnorm`` per variable, ``global_clipnorm`` over all,
``clipvalue`` elementwise; at most one); weight decay ``w -= w * wd * lr``;
each optimizer's ``update_step``; ``iterations += 1``.
Derivations and the side-by-side comparison: docs/optimizers.md.
"""
from __future__ import annotations

import functools
import math
import numbers
from functools import partial
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np

from npnet._validation import check_float
from npnet.calls import copyto
from npnet.optimizers import schedules

LearningRate = Union[float, schedules.LearningRateSchedule, Callable[[], float]]


@functools.lru_cache(maxsize=256)   # a step asks for the same few constants every time: ~0.3 us instead of 1.5
def keras_rounded(value: float, dtype: type) -> np.floating:
    """``value`` as Keras 3 feeds it to an update: rounded to float32 first, then to ``dtype``.

    Keras keeps the learning rate in a float32 variable, and its TensorFlow
    backend makes Python floats given to ``ops.cast`` float32 tensors before
    casting, so lr, momentum and Adam's betas carry float32 rounding even in a
    float64 model. Measured without this, in float64: Adam's first step off by
    a uniform 6.6e-9 (relative 6.6e-6), SGD's by 2.8e-11 (tests/parity/test_tutorial_model.py).
    Python floats that meet a tensor in ``ops.multiply``/``ops.add`` (``1 - beta_1``,
    epsilon, RMSprop's rho) are "weak" and convert straight to ``dtype``: ``dtype(value)``.
    """
    return dtype(np.float32(value))


@functools.lru_cache(maxsize=256)
def keras_exact(value: float, dtype: type) -> np.floating:
    """``value`` as Keras feeds a Python float that meets a tensor: converted to ``dtype`` directly (cached)."""
    return dtype(value)


def check_moments(beta_1: float, beta_2: float, epsilon: float) -> tuple[float, float, float]:
    """Adam's, Adamax's and Nadam's beta_1, beta_2 in [0, 1) and epsilon in [0, inf), checked by name."""
    beta_1 = check_float(beta_1, "beta_1", 0.0, 1.0, high_open=True)
    beta_2 = check_float(beta_2, "beta_2", 0.0, 1.0, high_open=True)
    return beta_1, beta_2, check_float(epsilon, "epsilon", 0.0, np.inf, high_open=True)


def _optional_positive(value: Any, name: str) -> float | None:
    return None if value is None else check_float(value, name, 0.0, np.inf, low_open=True, high_open=True)


class Optimizer:
    """Holds per-parameter state (slots) and counts applied steps in ``iterations``.

    A subclass names its ``hyperparameters`` (constructor arguments besides
    the base ones), its saved ``slot_names`` and its ``scratch_names`` (work
    arrays, so that a step allocates nothing), and writes ``update_step``.
    """

    name = "optimizer"
    hyperparameters: tuple[str, ...] = ()
    slot_names: tuple[str, ...] = ()
    scratch_names: tuple[str, ...] = ()
    # Whether ``apply_calls(pairs, step, span=...)`` binds the update of a slice of the parameters, and
    # ``count_calls(step)`` the count of the step, for fit's split step (npnet.training.split): Adam.
    splits_parameters = False

    def __init__(self, learning_rate: LearningRate, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None):
        self._learning_rate = _checked_learning_rate(learning_rate)
        self.weight_decay = None if weight_decay is None else check_float(weight_decay, "weight_decay", 0.0, np.inf,
                                                                          high_open=True)
        self.clipnorm = _optional_positive(clipnorm, "clipnorm")
        self.clipvalue = _optional_positive(clipvalue, "clipvalue")
        self.global_clipnorm = _optional_positive(global_clipnorm, "global_clipnorm")
        if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.iterations = 0
        self._slots: list[dict[str, np.ndarray]] | None = None
        self._shapes: list[tuple[tuple[int, ...], np.dtype]] | None = None

    # -- the learning rate --------------------------------------------------------------------

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step as Keras holds it: float32-rounded (a float given, or a
        schedule's or callable's value now). ``get_config`` keeps the float given."""
        return float(np.float32(self._current_learning_rate()))

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        # Keras's rule: a schedule or callable replaces anything; a float cannot replace a schedule.
        if isinstance(self._learning_rate, schedules.LearningRateSchedule) and not callable(value):
            raise TypeError("this optimizer was created with a LearningRateSchedule as its learning_rate, so its "
                            "learning rate cannot be set to a number; create it with a float learning_rate instead")
        self._learning_rate = _checked_learning_rate(value)

    def _current_learning_rate(self, iterations: int | None = None) -> float | np.float32:
        """The value Keras casts to each variable's dtype for the step after ``iterations`` steps (by
        default ``self.iterations``): a float, or a schedule's float32."""
        if type(self._learning_rate) is float:   # the common case first: it is every step's first call
            return self._learning_rate
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return self._learning_rate(self.iterations if iterations is None else iterations)
        if callable(self._learning_rate):
            value = self._learning_rate()   # Keras 3 calls it with no argument (base_optimizer.py)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
                raise ValueError(f"the learning_rate callable must return a finite number > 0, got {value!r}")
            return value
        return self._learning_rate

    # -- steps --------------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether the slots exist (after ``build`` or the first step)."""
        return self._slots is not None

    def build(self, params: Sequence[np.ndarray], variable_sizes: Sequence[Sequence[int]] | None = None) -> None:
        """Create the slots for ``params``, the arrays that later steps update, in that order.

        ``variable_sizes[i]``: the sizes of the Keras variables laid end to end
        in ``params[i]`` (a model's flat buffer holds kernel, bias, kernel, ...);
        only ``clipnorm``, which Keras applies to each variable on its own,
        reads them. Without them each array is one variable.
        """
        sizes = [(p.size,) for p in params] if variable_sizes is None else [tuple(s) for s in variable_sizes]
        if len(sizes) != len(params) or any(sum(s) != p.size or min(s, default=1) < 1 for s, p in zip(sizes, params)):
            raise ValueError(f"variable_sizes {sizes} do not tile the parameter arrays of sizes "
                             f"{[p.size for p in params]}")
        scratch = ("tmp",) + self.scratch_names + (("clipped",) if self._clipping else ()) + (
            ("clip_denominator",) if self.clipnorm is not None else ())
        self._shapes = [(p.shape, p.dtype) for p in params]
        self._slots = [{**{name: np.full_like(p, self.initial_slot_value(name, p.dtype.type))
                           for name in self.slot_names},
                        **{name: np.empty_like(p) for name in scratch},
                        **self.step_constants(p.dtype.type)} for p in params]
        # clipnorm: each variable's squared norm from one reduceat over the flat array, then spread
        # back over its elements with one take (no Python loop over the variables).
        self._segments = [(np.cumsum((0,) + s[:-1]), np.repeat(np.arange(len(s)), s), np.empty(len(s), p.dtype))
                          for s, p in zip(sizes, params)] if self.clipnorm is not None else None
        self.build_globals(params[0].dtype.type)

    def build_for(self, parameters: Any) -> None:
        """Slots for a model's flat buffer (``npnet.params.ParameterBuffer``), unless built: its trainable
        slice, with each trainable weight's size, since Keras's clipnorm clips each weight on its own."""
        if self._slots is None:
            self.build([parameters.trainable_pair()[1]], [parameters.trainable_sizes()])

    def step_constants(self, dtype: type) -> dict[str, np.ndarray]:
        """0-d arrays in ``dtype`` that ``update_step`` finds among the slots: its constants, made once.

        NumPy multiplies an array by a 0-d array about 3x faster than by a NumPy
        or Python scalar, which it converts at every call; neither is saved.
        """
        return {}

    def initial_slot_value(self, name: str, dtype: type) -> np.floating:
        """What slot ``name`` starts at: zeros, unless an optimizer says otherwise (Adagrad)."""
        return dtype(0)

    def build_globals(self, dtype: type) -> None:
        """Create optimizer-wide state that is not per parameter (Nadam's running product)."""

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, np.ndarray]]) -> None:
        """Update each parameter array in place from its gradient; ``iterations += 1``.

        The parameters must be writable float arrays, the same ones (shapes,
        dtypes, order) at every call after the first.
        """
        pairs = list(grads_and_vars) if not isinstance(grads_and_vars, np.ndarray) else None
        if not pairs or any(not isinstance(p, (tuple, list)) or len(p) != 2 for p in pairs):
            raise TypeError("grads_and_vars must be a non-empty iterable of (gradient, parameter) pairs")
        checked = []
        for index, (grad, param) in enumerate(pairs):
            if not isinstance(param, np.ndarray) or param.dtype.kind != "f" or not param.flags.writeable:
                raise TypeError(f"parameter {index} must be a writable float ndarray, got {type(param).__name__}")
            grad = np.asarray(grad)
            if grad.shape != param.shape:
                raise ValueError(f"gradient {index} has shape {grad.shape}, its parameter {param.shape}")
            if grad.dtype.kind not in "biuf" or not np.isfinite(grad).all():
                raise ValueError(f"gradient {index} must be finite real numbers")
            checked.append((grad.astype(param.dtype, copy=False), param))
        shapes = [(p.shape, p.dtype) for _, p in checked]
        if self._shapes is not None and shapes != self._shapes:
            raise ValueError(f"this optimizer was built for parameters {self._shapes}, got {shapes}; "
                             "use a new optimizer for other parameters")
        self.apply(checked)

    def apply(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """``apply_gradients`` without the checks: the model's hot path."""
        if self._slots is None:
            self.build([param for _, param in pairs])
        learning_rate = self._current_learning_rate()   # first: a bad callable raises before any change
        grads = self._clipped([grad for grad, _ in pairs]) if self._clipping else [grad for grad, _ in pairs]
        self.prepare_step()
        for grad, (_, param), slots in zip(grads, pairs, self._slots):
            dtype = param.dtype.type
            lr = keras_rounded(learning_rate, dtype)
            if self.weight_decay is not None:   # decoupled, scaled by lr, before the update (Keras's order)
                tmp = slots["tmp"]
                np.multiply(param, keras_rounded(self.weight_decay, dtype), out=tmp)
                tmp *= lr
                param -= tmp                               # w -= w * wd * lr
            self.update_step(grad, param, slots, lr)
        self.iterations += 1

    def apply_calls(self, pairs: list[tuple[np.ndarray, np.ndarray]], step: int = 0) -> list:
        """``apply`` on these arrays as calls, for fit's compiled step number ``step`` of an epoch
        (npnet.training.step): one call of it, unless the optimizer writes its update as NumPy calls (Adam)."""
        return [partial(self.apply, pairs)]

    def prepare_steps(self, first: int, count: int) -> None:
        """Before compiled steps ``first`` .. ``first + count - 1`` of an epoch run, the next ``count`` steps
        of this optimizer: compute what they read that depends only on the step count and the learning
        rate (Adam's step sizes). fit calls it once per epoch for all its steps, or before each step
        when a batch callback may change the learning rate in between."""

    def prepare_step(self) -> None:
        """Update optimizer-wide state once per step, before the parameters (Nadam)."""

    def update_step(self, grad: np.ndarray, param: np.ndarray, slots: dict[str, np.ndarray],
                    learning_rate: np.floating) -> None:
        """Update ``param`` in place from ``grad``; ``learning_rate`` is already in ``param``'s dtype."""
        raise NotImplementedError

    @property
    def _clipping(self) -> bool:
        return self.clipnorm is not None or self.clipvalue is not None or self.global_clipnorm is not None

    def _clipped(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """The gradients after Keras's clipping, written into the "clipped" scratch arrays (the input is kept)."""
        outs = [slots["clipped"] for slots in self._slots]
        if self.clipnorm is not None:
            # tf.clip_by_norm: g * c / max(||g||, c), per variable.
            c = self.clipnorm
            for grad, out, slots, (starts, ids, norms) in zip(grads, outs, self._slots, self._segments):
                np.square(grad, out=out)
                np.add.reduceat(out.reshape(-1), starts, out=norms)
                np.sqrt(norms, out=norms)
                np.maximum(norms, c, out=norms)
                denominator = slots["clip_denominator"]
                np.take(norms, ids, out=denominator.reshape(-1), mode="clip")   # mode="clip": no buffered copy
                np.multiply(grad, c, out=out)
                out /= denominator
        elif self.global_clipnorm is not None:
            # Keras's clip_by_global_norm: g * (c * min(1 / ||all g||, 1 / c)); 1 / c is a Python float.
            dtype = grads[0].dtype.type
            norm = np.sqrt(dtype(sum(np.vdot(grad, grad) for grad in grads)))
            c = self.global_clipnorm
            with np.errstate(divide="ignore"):   # all-zero gradients: 1 / 0 = inf, and the minimum is 1 / c
                scale = dtype(c) * np.minimum(dtype(1) / norm, dtype(1.0 / c))
            for grad, out in zip(grads, outs):
                np.multiply(grad, scale, out=out)
        else:
            for grad, out in zip(grads, outs):
                np.clip(grad, -self.clipvalue, self.clipvalue, out=out)
        return outs

    def flush_subnormals(self) -> None:
        """Set every slot value that is subnormal (0 < |s| < the dtype's smallest normal number, 1.2e-38
        in float32) to zero, as TensorFlow's flush-to-zero mode makes it in Keras; ``fit`` calls it after
        each epoch.

        A weight whose gradient stays exactly 0 (one of a dead ReLU unit) has its moments decay
        geometrically (Adam's m by beta_1 = 0.9 a step), through the subnormal range to 0 over
        about 150 steps. TensorFlow runs with the CPU's flush-to-zero and denormals-are-zero
        modes, so Keras's moments are 0 there; NumPy cannot set those modes, and the CPU
        takes a slow path (a microcode assist) for every vector instruction that meets a
        subnormal. In the tutorial's fit, from epoch 32 on, they made each epoch 120 us (12%)
        slower. A subnormal moment moves its weight by less than 1e-30, so what it changes is
        the time, not the weights. Three calls per slot array per epoch (``slot_arrays``).
        """
        for slots in self._slots or []:
            for slot in self.slot_arrays(slots):
                copyto(slot, 0, where=np.abs(slot) < _smallest_normal(slot.dtype))

    def slot_arrays(self, slots: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The arrays that hold the slots ``slot_names`` of one parameter array, each memory once (Adam's
        [m; v] is one array for two slots)."""
        return [slots[name] for name in self.slot_names]

    def reset(self) -> None:
        """Forget the slots and the step count: the state of a fresh optimizer with the same settings."""
        self.iterations, self._slots, self._shapes = 0, None, None

    # -- state and config -------------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of ``iterations`` (int64) and every slot, keyed ``"<slot>_<i>"`` for parameter array i."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for index, slots in enumerate(self._slots or []):
            state.update({f"{name}_{index}": slots[name].copy() for name in self.slot_names})
        state.update({name: value.copy() for name, value in self._global_state().items()})
        return state

    def _global_state(self) -> dict[str, np.ndarray]:
        return {}

    def state_arrays(self) -> list[np.ndarray]:
        """The arrays ``get_state`` copies, live and each memory once: every parameter array's
        ``slot_arrays``, then the optimizer-wide state (fit's divergence guard copies them each epoch)."""
        return [array for slots in self._slots or [] for array in self.slot_arrays(slots)] + list(
            self._global_state().values())

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore ``get_state()`` data; the optimizer must be built for the same parameters.

        ``{"iterations": 0}`` alone (an optimizer that never stepped) resets.
        Everything is checked (keys, shapes, dtypes, finite values) before
        anything changes.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        iterations = np.asarray(state.get("iterations"))
        if iterations.shape != () or iterations.dtype.kind not in "iu" or int(iterations) < 0:
            raise ValueError(f"optimizer state['iterations'] must be an integer >= 0, got {state.get('iterations')!r}")
        if set(state) == {"iterations"} and int(iterations) == 0:
            self.reset()
            return
        if self._slots is None:
            raise ValueError("build the optimizer for its parameters before setting its state")
        expected = self.get_state()
        if set(state) != set(expected):
            raise ValueError(f"optimizer state must hold exactly {sorted(expected)}, got {sorted(state)}")
        for key, target in expected.items():
            value = np.asarray(state[key])
            if key != "iterations" and (value.shape != target.shape or value.dtype != target.dtype
                                        or not np.isfinite(value).all()):
                raise ValueError(f"optimizer state[{key!r}] must be a finite {target.dtype} array of shape "
                                 f"{target.shape}, got {value.dtype} {value.shape}"
                                 f"{'' if np.isfinite(value).all() else ' with NaN/inf'}")
        self.iterations = int(iterations)
        for index, slots in enumerate(self._slots):
            for name in self.slot_names:
                slots[name][...] = state[f"{name}_{index}"]
        for name, value in self._global_state().items():
            value[...] = state[name]

    @property
    def config_names(self) -> tuple[str, ...]:
        """The constructor arguments ``get_config`` holds, in Keras's order."""
        return ("learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue") + self.hyperparameters

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **constructor arguments}``; ``optimizers.from_config`` inverts it (state not included).

        A schedule is stored as ``{"class_name": ..., "config": ...}``; a
        callable learning rate cannot be stored (TypeError).
        """
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            learning_rate = schedules.serialize(self._learning_rate)
        elif callable(self._learning_rate):
            raise TypeError("a callable learning_rate cannot be written to a config; use a schedule from "
                            "npnet.optimizers.schedules")
        else:
            learning_rate = self._learning_rate
        return {"name": self.name, "learning_rate": learning_rate,
                **{key: getattr(self, key) for key in self.config_names[1:]}}


@functools.lru_cache(maxsize=None)
def _smallest_normal(dtype: np.dtype) -> np.floating:
    return np.finfo(dtype).smallest_normal


def _checked_learning_rate(value: Any) -> LearningRate:
    if isinstance(value, schedules.LearningRateSchedule) or (callable(value) and not isinstance(value, type)):
        return value
    return check_float(value, "learning_rate", 0.0, np.inf, low_open=True, high_open=True)
