"""Adam and SGD with Keras 3's update rules, applied to whole arrays in place.

A model hands its optimizer one pair: the flat gradient buffer (P,) and the
flat parameter buffer (P,) (see ``npnet.params``), so one step is a handful of
whole-array statements with no loop over layers. ``apply_gradients`` also
takes any list of (gradient, parameter) array pairs, as in Keras.
Derivations: docs/backprop.md#adam.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable, Union

import numpy as np

from npnet._validation import check_bool, check_float


def keras_rounded(value: float, dtype: type) -> np.floating:
    """``value`` as Keras 3 feeds it to an update: rounded to float32 first, then to ``dtype``.

    Keras keeps the learning rate in a float32 variable, and its TensorFlow
    backend makes Python floats given to ``ops.cast`` float32 tensors before
    casting, so lr, momentum and Adam's betas carry float32 rounding even in a
    float64 model. Measured without this, in float64: Adam's first step off by
    a uniform 6.6e-9 (relative 6.6e-6), SGD's by 2.8e-11 (tests/test_parity_keras.py).
    """
    return dtype(np.float32(value))


class Optimizer:
    """Holds per-parameter state (slots) and counts applied steps in ``iterations``."""

    name = "optimizer"
    slot_names: tuple[str, ...] = ()
    config_names: tuple[str, ...] = ("learning_rate",)   # constructor arguments, for get_config

    def __init__(self, learning_rate: float):
        self.learning_rate = check_float(learning_rate, "learning_rate", 0.0, np.inf, low_open=True,
                                         high_open=True)
        self.iterations = 0
        self._slots: list[dict[str, np.ndarray]] | None = None
        self._shapes: list[tuple[tuple[int, ...], np.dtype]] | None = None

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

    def reset(self) -> None:
        """Forget the slots and the step count: the state of a fresh optimizer with the same settings."""
        self.iterations, self._slots, self._shapes = 0, None, None

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of ``iterations`` and every slot (prototype; the optim branch owns the real one)."""
        state = {"iterations": np.array(self.iterations)}
        for index, slots in enumerate(self._slots or []):
            state.update({f"{index}/{name}": value.copy() for name, value in slots.items()})
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if len(state) == 1:
            self.reset()
        self.iterations = int(state["iterations"])
        for index, slots in enumerate(self._slots or []):
            for name, value in slots.items():
                value[...] = state[f"{index}/{name}"]

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **hyperparameters}``; ``optimizers.from_config`` inverts it (state not included)."""
        return {"name": self.name, **{key: getattr(self, key) for key in self.config_names}}

    def apply(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """``apply_gradients`` without the checks: the model's hot path."""
        if self._slots is None:
            self._shapes = [(p.shape, p.dtype) for _, p in pairs]
            self._slots = [{name: np.zeros_like(p) for name in self.slot_names} for _, p in pairs]
        for (grad, param), slots in zip(pairs, self._slots):
            self.update_step(grad, param, slots)
        self.iterations += 1

    def update_step(self, grad: np.ndarray, param: np.ndarray, slots: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent: w -= lr * g; with momentum, Keras's form (below)."""

    name = "sgd"
    config_names = ("learning_rate", "momentum", "nesterov")

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.nesterov = check_bool(nesterov, "nesterov")
        # "tmp" is scratch space for the step, so that a step allocates nothing.
        self.slot_names = ("velocity", "tmp") if self.momentum else ("tmp",)

    def update_step(self, grad, param, slots):
        """Keras 3: ``v = momentum * v - lr * g``; ``w += v`` (Nesterov: ``w += momentum * v - lr * g``)."""
        dtype = param.dtype.type
        lr, tmp = keras_rounded(self.learning_rate, dtype), slots["tmp"]
        np.multiply(grad, lr, out=tmp)                 # lr * g
        if not self.momentum:
            param -= tmp
            return
        velocity, momentum = slots["velocity"], keras_rounded(self.momentum, dtype)
        velocity *= momentum
        velocity -= tmp                                # v = momentum * v - lr * g
        if self.nesterov:
            np.subtract(velocity * momentum, tmp, out=tmp)
            param += tmp
        else:
            param += velocity


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) in Keras 3's form, with "epsilon hat" placement.

    Per step t (1-based), in the parameter dtype:
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g*g - v) * (1 - beta_2)
        w -= m * alpha / (sqrt(v) + epsilon)
    This equals the paper's lr * m_hat / (sqrt(v_hat) + eps) with
    eps = epsilon / sqrt(1 - beta_2**t), 32x epsilon at t = 1: see docs/backprop.md#adam for the
    size of the difference from the paper's and PyTorch's placement.
    """

    name = "adam"
    config_names = ("learning_rate", "beta_1", "beta_2", "epsilon")
    slot_names = ("m", "v", "tmp", "denominator")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        super().__init__(learning_rate)
        self.beta_1 = check_float(beta_1, "beta_1", 0.0, 1.0, high_open=True)
        self.beta_2 = check_float(beta_2, "beta_2", 0.0, 1.0, high_open=True)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, np.inf, high_open=True)

    def update_step(self, grad, param, slots):
        # Each constant is rounded where Keras rounds it (``keras_rounded``), and
        # the operations run in Keras's order, so results agree with Keras to the
        # last bit or two in float32 and exactly in float64.
        one_minus_beta_1, one_minus_beta_2, epsilon, step_sizes = self._constants(param.dtype.type)
        alpha = step_sizes.at(self.iterations + 1)
        m, v, tmp, denominator = slots["m"], slots["v"], slots["tmp"], slots["denominator"]

        np.subtract(grad, m, out=tmp)
        tmp *= one_minus_beta_1
        m += tmp                                       # m += (g - m) * (1 - beta_1)
        np.square(grad, out=tmp)
        tmp -= v
        tmp *= one_minus_beta_2
        v += tmp                                       # v += (g*g - v) * (1 - beta_2)
        np.multiply(m, alpha, out=tmp)
        np.sqrt(v, out=denominator)
        denominator += epsilon
        tmp /= denominator
        param -= tmp                                   # w -= m * alpha / (sqrt(v) + epsilon)

    def _constants(self, dtype: type) -> tuple:
        """1 - beta_1, 1 - beta_2, epsilon and the step sizes alpha_t, in ``dtype`` as Keras rounds them.

        Made again when a hyperparameter changes (a callback may lower the learning rate).
        """
        key = (self.learning_rate, self.beta_1, self.beta_2, self.epsilon, dtype)
        if getattr(self, "_constants_key", None) != key:
            lr, beta_1, beta_2, one_minus_beta_1, one_minus_beta_2, epsilon = _adam_constants(*key)
            self._constants_key = key
            self._constants_value = one_minus_beta_1, one_minus_beta_2, epsilon, StepSizes(lr, beta_1, beta_2, dtype)
        return self._constants_value


class StepSizes:
    """Adam's step size alpha_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) in ``dtype``, as Keras computes it.

    Computed for 1024 steps at a time: the same operations on an array of t give
    the same values as on each t alone (tests/test_fast_path.py checks), without
    seven scalar operations per step.
    """

    def __init__(self, lr: np.floating, beta_1: np.floating, beta_2: np.floating, dtype: type):
        self.lr, self.beta_1, self.beta_2, self.dtype = lr, beta_1, beta_2, dtype
        self.first, self.values = 1, self._block(1)

    def _block(self, first: int) -> np.ndarray:
        t = np.arange(first, first + 1024, dtype=self.dtype)
        return self.lr * np.sqrt(1 - np.power(self.beta_2, t)) / (1 - np.power(self.beta_1, t))

    def at(self, t: int) -> np.floating:
        if not 0 <= t - self.first < len(self.values):
            self.first, self.values = t, self._block(t)
        return self.values[t - self.first]


@functools.lru_cache(maxsize=16)
def _adam_constants(learning_rate: float, beta_1: float, beta_2: float, epsilon: float,
                    dtype: type) -> tuple[np.floating, ...]:
    """Adam's hyperparameters in ``dtype`` as Keras uses them: lr, beta_1, beta_2, 1 - beta_1, 1 - beta_2, epsilon.

    lr and the betas pass through float32 (``keras_rounded``); Keras computes
    ``1 - beta`` and takes epsilon in the variable's dtype directly.
    """
    return (keras_rounded(learning_rate, dtype), keras_rounded(beta_1, dtype), keras_rounded(beta_2, dtype),
            dtype(1 - beta_1), dtype(1 - beta_2), dtype(epsilon))


OptimizerLike = Union[str, Optimizer]
_REGISTRY = {"adam": Adam, "sgd": SGD}


def names() -> list[str]:
    """The registered optimizer names, sorted (the CLI's choices, interop's table)."""
    return sorted(_REGISTRY)


def get(identifier: OptimizerLike) -> Optimizer:
    """An Optimizer from ``"adam"``/``"sgd"`` (default settings) or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _REGISTRY:
        return _REGISTRY[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; expected one of {sorted(_REGISTRY)} or an Optimizer")


def from_config(config: Any) -> Optimizer:
    """A fresh Optimizer from ``Optimizer.get_config()`` data."""
    if not isinstance(config, dict) or config.get("name") not in _REGISTRY:
        raise ValueError(f"an optimizer config must be a dict naming one of {sorted(_REGISTRY)}, got {config!r}")
    return _REGISTRY[config["name"]](**{key: value for key, value in config.items() if key != "name"})
