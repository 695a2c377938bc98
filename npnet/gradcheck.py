"""Gradient checking: npnet's hand-written backward against central finite differences.

For a scalar function L of an array p, the central difference
    (L(p + eps e_i) - L(p - eps e_i)) / (2 eps)
approximates dL/dp_i with error O(eps**2). Each ``check_*`` function compares
that with the analytic gradient and returns a ``GradcheckReport``: per
parameter, the largest relative error and where it occurs. Run checks in
float64 (``npnet.backend.set_floatx("float64")`` before building): float32
rounding alone swamps the differences.
Worked example: docs/backprop.md#checking-a-gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from npnet import activations as activations_module, losses as losses_module
from npnet._validation import as_float_array, check_float



def rounding_noise(scale: float, eps: float) -> float:
    """The rounding error of a central difference of a function of size ``scale``: about 4 u scale / eps.

    Each of L(p + eps e_i) and L(p - eps e_i) is off by up to about u * scale
    (u = 2.2e-16 in float64; scale is the sum of the magnitudes of L's terms),
    and their difference is divided by 2 eps. For the tutorial's loss of 0.7
    and eps = 1e-6 that is 6e-10: a gradient entry smaller than that cannot be
    checked relatively (a true 3.5e-9 shows a "relative error" of 1e-2).
    """
    return 4 * float(np.finfo(np.float64).eps) * scale / eps


@dataclass
class ParameterCheck:
    """One array's comparison: the analytic and numerical gradients, entry by entry.

    The relative error of an entry is |a - n| / (|a| + |n|) (0 where both are 0).
    """

    name: str
    analytic: np.ndarray    # float64, the parameter's shape
    numerical: np.ndarray
    noise: float = 0.0      # the numerical gradient's rounding noise, ``rounding_noise``

    @property
    def shape(self) -> tuple[int, ...]:
        return self.analytic.shape

    @property
    def absolute_errors(self) -> np.ndarray:
        return np.abs(self.analytic - self.numerical)

    @property
    def relative_errors(self) -> np.ndarray:
        scale = np.abs(self.analytic) + np.abs(self.numerical)
        return np.divide(self.absolute_errors, scale, out=np.zeros_like(scale), where=scale > 0)

    @property
    def max_relative_error(self) -> float:
        return float(self.relative_errors.max(initial=0.0))

    @property
    def max_absolute_error(self) -> float:
        return float(self.absolute_errors.max(initial=0.0))

    def worst(self, atol: float = 0.0) -> tuple[tuple[int, ...], float]:
        """(index, relative error) of the worst entry among those off by more than ``atol``."""
        relative = np.where(self.absolute_errors > atol, self.relative_errors, 0.0)
        if not relative.size:
            return (), 0.0
        index = np.unravel_index(np.argmax(relative), relative.shape)
        return tuple(int(i) for i in index), float(relative[index])


@dataclass
class GradcheckReport:
    """All of a check's ``ParameterCheck`` rows; ``passed(tolerance)`` asks if every one is within it."""

    checks: list[ParameterCheck]

    @property
    def max_relative_error(self) -> float:
        return max(check.max_relative_error for check in self.checks)

    def passed(self, tolerance: float = 1e-6, atol: float | None = None) -> bool:
        """True if every entry has relative error <= ``tolerance`` or absolute error <= ``atol``.

        ``atol`` defaults to each check's own rounding noise (``rounding_noise``):
        below it the numerical gradient cannot tell right from wrong.
        """
        return all(check.worst(check.noise if atol is None else atol)[1] <= tolerance for check in self.checks)

    def assert_passed(self, tolerance: float = 1e-6, atol: float | None = None) -> None:
        """Raise AssertionError naming the worst parameter entry if ``passed(tolerance, atol)`` is False."""
        if not self.passed(tolerance, atol):
            floor = {check.name: check.noise if atol is None else atol for check in self.checks}
            worst = max(self.checks, key=lambda check: check.worst(floor[check.name])[1])
            index, relative = worst.worst(floor[worst.name])
            raise AssertionError(f"gradient check failed (tolerance {tolerance:g}, atol {floor[worst.name]:.2g}): "
                                 f"{worst.name}"
                                 f"{list(index)} analytic {worst.analytic[index]:.6g} vs numerical "
                                 f"{worst.numerical[index]:.6g} (relative error {relative:.3g})\n{self}")

    def __str__(self) -> str:
        rows = [f"{'parameter':<20}{'shape':<14}{'max rel err':>12}{'max abs err':>12}  worst index"]
        rows += [f"{c.name:<20}{str(c.shape):<14}{c.max_relative_error:>12.2e}{c.max_absolute_error:>12.2e}  "
                 f"{c.worst()[0]}" for c in self.checks]
        return "\n".join(rows)


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dF/d(array) by central differences; ``f()`` must read ``array``, which is perturbed in place and restored."""
    eps = check_float(eps, "eps", 0.0, 1.0, low_open=True)
    grad = np.empty(array.shape, dtype=np.float64)
    flat, out = array.reshape(-1), grad.reshape(-1)   # views: writing flat[i] perturbs array
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        up = f()
        flat[i] = original - eps
        down = f()
        flat[i] = original
        out[i] = (up - down) / (2 * eps)
    return grad


def compare(name: str, analytic: np.ndarray, numerical: np.ndarray, noise: float = 0.0) -> ParameterCheck:
    """The ``ParameterCheck`` of one analytic gradient against its numerical estimate (of rounding ``noise``)."""
    return ParameterCheck(name, np.asarray(analytic, dtype=np.float64), np.asarray(numerical, dtype=np.float64),
                          noise)


def _require_float64(array: np.ndarray, what: str) -> None:
    if array.dtype != np.float64:
        raise ValueError(f"{what} must be float64 for a gradient check, got {array.dtype}: call "
                         "npnet.backend.set_floatx('float64') before building")


def check_model(model: Any, x: Any, y: Any, eps: float = 1e-6, sample_weight: Any = None) -> GradcheckReport:
    """Every parameter of a compiled float64 model: ``loss_and_gradients`` vs finite differences of the loss."""
    eps = check_float(eps, "eps", 0.0, 1.0, low_open=True)   # before anything is built
    _, analytic = model.loss_and_gradients(x, y, sample_weight)   # checks x, y, weights; builds the model
    _require_float64(model.get_weights()[0], "the model's weights")
    loss = lambda: model.loss_and_gradients(x, y, sample_weight)[0]   # noqa: E731 - reads the perturbed buffer
    noise = rounding_noise(abs(loss()), eps)   # binary crossentropy's terms are all >= 0
    checks = []
    for layer in model.layers:   # the trainable weights, in get_weights() order, as loss_and_gradients returns them
        for spec, value, grad in zip(layer.weights_spec(layer.input_dim), layer.weights, layer.grads):
            if grad is not None:
                checks.append(compare(f"{layer.name}/{spec.name}", analytic[len(checks)],
                                      numerical_gradient(loss, value, eps), noise))
    return GradcheckReport(checks)


def check_layer(layer: Any, x: Any, eps: float = 1e-6, seed: int = 0) -> GradcheckReport:
    """A layer's ``backward`` for x (N, I): its kernel, bias and input gradients.

    The scalar checked is L = sum(r * forward(x)) + regularization_loss() with a
    fixed random r (N, O), so that dL/d(output) = r is a generic upstream
    gradient and a layer's penalties (docs/backprop.md#weight-penalties) are checked too.
    The forward pass runs in training mode; a Dropout layer must draw the same mask every call.
    """
    eps = check_float(eps, "eps", 0.0, 1.0, low_open=True)   # before the layer is built
    x = as_float_array(x, "x", np.float64, ndim=2).copy()
    if not layer.built:
        layer.build(x.shape[1], np.float64)
    for value in layer.weights:
        _require_float64(value, f"layer {layer.name!r}'s weights")
    r = np.random.default_rng(seed).standard_normal((len(x), layer.output_dim(x.shape[1])))
    loss = lambda: float(np.sum(r * layer.forward(x, True))) + layer.regularization_loss()  # noqa: E731
    noise = rounding_noise(float(np.sum(np.abs(r * layer.forward(x, True)))) + layer.regularization_loss(), eps)
    dx = layer.backward(r).copy()
    params = [(spec.name, value, grad.copy())
              for spec, value, grad in zip(layer.weights_spec(x.shape[1]), layer.weights, layer.grads)
              if grad is not None and spec.trainable]   # not the moving statistics: no gradient to check
    checks = [compare(f"{layer.name}/{name}", grad, numerical_gradient(loss, value, eps), noise)
              for name, value, grad in params]
    checks.append(compare(f"{layer.name}/input", dx, numerical_gradient(loss, x, eps), noise))
    return GradcheckReport(checks)


def check_activation(activation: Any, z: Any, eps: float = 1e-6, seed: int = 0) -> GradcheckReport:
    """An activation's ``backward`` at z: dL/dz for L = sum(r * f(z)) with a fixed random r."""
    eps = check_float(eps, "eps", 0.0, 1.0, low_open=True)
    activation = activations_module.get(activation)
    z = np.array(as_float_array(z, "z", np.float64, ndim=np.ndim(z)), dtype=np.float64)
    r = np.random.default_rng(seed).standard_normal(z.shape)
    loss = lambda: float(np.sum(r * activation(z)))  # noqa: E731
    y = activation(z)
    analytic = activation.backward(y, r, out=np.empty_like(z), z=z)
    noise = rounding_noise(float(np.sum(np.abs(r * y))), eps)
    return GradcheckReport([compare(f"{activation.name}/z", analytic, numerical_gradient(loss, z, eps), noise)])


def check_loss(loss: Any, y_true: Any, y_pred: Any, eps: float = 1e-6) -> GradcheckReport:
    """A loss's ``backward``: dL/dy_pred of its ``forward`` (the batch mean) at (y_true, y_pred)."""
    eps = check_float(eps, "eps", 0.0, 1.0, low_open=True)
    loss = losses_module.get(loss)
    y_true = as_float_array(y_true, "y_true", np.float64, ndim=2)
    y_pred = as_float_array(y_pred, "y_pred", np.float64, ndim=2).copy()
    value = lambda: loss.forward(y_true, y_pred)  # noqa: E731
    noise = rounding_noise(abs(value()), eps)
    analytic = loss.backward().copy()
    return GradcheckReport([compare(f"{loss.name}/y_pred", analytic, numerical_gradient(value, y_pred, eps),
                                    noise)])
