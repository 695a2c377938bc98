"""BatchNormalization and LayerNormalization, with Keras's arithmetic (derivations: docs/backprop.md).

Both compute, per feature (batch norm) or per sample (layer norm),

    x̂ = (x - mean) / sqrt(var + epsilon),    y = gamma * x̂ + beta,

with the biased variance (the mean of squared deviations), as Keras's
``ops.moments``. The output is formed in Keras's order of operations,
``inv = rsqrt(var + epsilon) * gamma``, ``y = x * inv + (beta - mean * inv)``,
so float32 results agree with Keras's to a few units in the last place; x̂ is
kept for the backward pass, which uses the compact form derived in
docs/backprop.md#batchnormalization and docs/backprop.md#layernormalization.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from npnet import initializers, regularizers
from npnet._validation import check_bool, check_float
from npnet.layers.base import Layer, Weight
from npnet.params import WorkArrays


def _check_axis(axis: Any) -> int:
    # Inputs are (N, I): the feature axis is the last one, -1 or 1. A built Keras
    # LayerNormalization reports its axis as a list ([-1]).
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if isinstance(axis, bool) or axis not in (-1, 1):
        raise ValueError(f"axis must be -1 (the features of (N, I) inputs), got {axis!r}")
    return -1


class _Normalization(Layer):
    """What both normalizations share: gamma (scale) and beta (center), their arguments and gradients."""

    # LayerNormalization's constructor, with Keras's defaults; BatchNormalization adds its own arguments.
    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer: initializers.InitializerLike = "zeros",
                 gamma_initializer: initializers.InitializerLike = "ones",
                 beta_regularizer: regularizers.RegularizerLike = None,
                 gamma_regularizer: regularizers.RegularizerLike = None,
                 name: str | None = None, trainable: bool = True,
                 input_dim: int | None = None, input_shape: tuple[int] | None = None):
        super().__init__(name=name, trainable=trainable, input_dim=input_dim, input_shape=input_shape)
        self.axis = _check_axis(axis)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, np.inf, low_open=True, high_open=True)
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def weights_spec(self, input_dim: int) -> list[Weight]:
        """[gamma (I,)] if scale, then [beta (I,)] if center: Keras's order."""
        spec = []
        if self.scale:
            spec.append(Weight("gamma", (input_dim,), self.gamma_initializer, True, self.gamma_regularizer))
        if self.center:
            spec.append(Weight("beta", (input_dim,), self.beta_initializer, True, self.beta_regularizer))
        return spec

    def bind(self, input_dim: int, values: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        super().bind(input_dim, values, grads)
        names = [weight.name for weight in self.weights_spec(input_dim)]
        self.views, grad_views = dict(zip(names, values)), dict(zip(names, grads))
        self.gamma, self.dgamma = self.views.get("gamma"), grad_views.get("gamma")    # (I,) or None
        self.beta, self.dbeta = self.views.get("beta"), grad_views.get("beta")        # (I,) or None
        self._work = None          # made at the first pass, in the data's dtype

    def _rows(self, x: np.ndarray) -> list[np.ndarray]:
        """(N, I) work arrays y, x_hat, scratch, dx, reused from batch to batch."""
        if self._work is None or self._work.dtype != x.dtype:
            self._work = WorkArrays(x.dtype, y=self.input_dim, x_hat=self.input_dim, scratch=self.input_dim,
                                    dx=self.input_dim)
        return self._work.rows(len(x))

    def _affine_gradients(self, dy: np.ndarray, x_hat: np.ndarray, scratch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Σ_n dy, Σ_n dy x̂), both (I,), written into dbeta and dgamma where those are trained."""
        ones = self._work.ones(len(dy))
        dy_sum = ones @ dy                                      # (I,) = (N,) @ (N, I)
        dy_x_hat_sum = ones @ np.multiply(dy, x_hat, out=scratch)   # (I,) = (N,) @ (N, I)
        if self.dbeta is not None:
            self.dbeta[...] = dy_sum
        if self.dgamma is not None:
            self.dgamma[...] = dy_x_hat_sum
        self.add_weight_penalty_gradients()
        return dy_sum, dy_x_hat_sum

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis, "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer), **super().get_config()}


class BatchNormalization(_Normalization):
    """Normalizes each feature over the batch in training, with moving statistics at inference.

    x, y (N, I); gamma, beta, moving_mean, moving_variance (I,), in Keras's
    weight order; the moving statistics are non-trainable weights. Training
    (``training=True`` on a trainable layer) uses the batch's mean and biased
    variance and then updates, as Keras does,
    ``moving = moving * momentum + batch * (1 - momentum)``; otherwise the
    moving statistics are used. A frozen layer (``trainable=False``) runs in
    inference mode even in training, as in Keras 3.
    Backward: docs/backprop.md#batchnormalization.
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: initializers.InitializerLike = "zeros",
                 gamma_initializer: initializers.InitializerLike = "ones",
                 moving_mean_initializer: initializers.InitializerLike = "zeros",
                 moving_variance_initializer: initializers.InitializerLike = "ones",
                 beta_regularizer: regularizers.RegularizerLike = None,
                 gamma_regularizer: regularizers.RegularizerLike = None,
                 name: str | None = None, trainable: bool = True,
                 input_dim: int | None = None, input_shape: tuple[int] | None = None):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, name, trainable, input_dim, input_shape)
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def weights_spec(self, input_dim: int) -> list[Weight]:
        """gamma, beta (as scale/center ask), moving_mean, moving_variance (I,) each; the last two non-trainable."""
        return super().weights_spec(input_dim) + [
            Weight("moving_mean", (input_dim,), self.moving_mean_initializer, False),
            Weight("moving_variance", (input_dim,), self.moving_variance_initializer, False)]

    def bind(self, input_dim: int, values: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        super().bind(input_dim, values, grads)
        self.moving_mean = self.views["moving_mean"]             # (I,)
        self.moving_variance = self.views["moving_variance"]     # (I,)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x (N, I) -> y = gamma (x - mean) / sqrt(var + epsilon) + beta (N, I)."""
        y, x_hat, _, _ = self._rows(x)
        dtype = x.dtype.type
        self.batch_statistics = training and self.trainable   # Keras: `if training and self.trainable`
        if self.batch_statistics:
            mean = x.mean(axis=0)                               # (I,)
            np.subtract(x, mean, out=x_hat)                     # (N, I), centred; scaled below
            variance = np.multiply(x_hat, x_hat, out=y).mean(axis=0)   # (I,), biased, as tf.nn.moments
            # Keras's update, in its order: the old value times momentum plus the batch's times 1 - momentum.
            self.moving_mean[...] = self.moving_mean * dtype(self.momentum) + mean * dtype(1.0 - self.momentum)
            self.moving_variance[...] = (self.moving_variance * dtype(self.momentum)
                                         + variance * dtype(1.0 - self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance   # (I,)
        self.mean = mean
        self.inv_std = 1.0 / np.sqrt(variance + dtype(self.epsilon))   # (I,), Keras's rsqrt(var + epsilon)
        self.inv = self.inv_std * self.gamma if self.scale else self.inv_std   # (I,) = gamma / sqrt(var + eps)
        shift = self.beta - mean * self.inv if self.center else -mean * self.inv   # (I,)
        if self.batch_statistics:
            x_hat *= self.inv_std                               # (N, I) *= (I,): x̂ for backward
        self.x = x                                              # inference's backward rebuilds x̂ from x
        np.multiply(x, self.inv, out=y)                         # (N, I) = (N, I) * (I,)
        y += shift                                              # (N, I) += (I,)
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dy (N, I) -> dx (N, I); writes dgamma = Σ_n dy x̂ and dbeta = Σ_n dy (I,).

        With batch statistics, the compact form
        dx = gamma / sqrt(var + eps) * (dy - mean_n(dy) - x̂ mean_n(dy x̂));
        with moving statistics the layer is affine, dx = dy * gamma / sqrt(var + eps)
        (docs/backprop.md#batchnormalization).
        """
        _, x_hat, scratch, dx = self._rows(dy)
        if not self.batch_statistics:
            # A trade: inference's forward (predict) skips x̂; only a backward through it needs x̂.
            np.subtract(self.x, self.mean, out=x_hat)          # (N, I)
            x_hat *= self.inv_std                               # (N, I) *= (I,)
        dy_sum, dy_x_hat_sum = self._affine_gradients(dy, x_hat, scratch)
        if not need_dx:
            return None
        if not self.batch_statistics:
            return np.multiply(dy, self.inv, out=dx)            # (N, I) = (N, I) * (I,)
        n = len(dy)
        np.multiply(x_hat, dy_x_hat_sum / n, out=dx)            # (N, I) = (N, I) * (I,)
        np.subtract(dy, dx, out=dx)                             # (N, I)
        dx -= dy_sum / n                                        # (N, I) -= (I,)
        dx *= self.inv                                          # (N, I) *= (I,)
        return dx

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum,
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                **super().get_config()}


class LayerNormalization(_Normalization):
    """Normalizes each sample over its features: same formula as batch norm, statistics per row.

    x, y (N, I); gamma, beta (I,). The same in training and at inference.
    Keras's order: ``inv = rsqrt(var + epsilon) * gamma`` (N, I),
    ``y = x * inv + (-mean * inv + beta)``. Backward: docs/backprop.md#layernormalization.
    Arguments (Keras's): axis=-1, epsilon=1e-3, center=True, scale=True, beta/gamma initializers
    and regularizers.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x (N, I) -> y = gamma (x - mean) / sqrt(var + epsilon) + beta (N, I), statistics per row."""
        y, x_hat, scratch, _ = self._rows(x)
        mean = x.mean(axis=1, keepdims=True)                    # (N, 1)
        np.subtract(x, mean, out=x_hat)                         # (N, I), centred; scaled below
        variance = np.multiply(x_hat, x_hat, out=y).mean(axis=1, keepdims=True)   # (N, 1), biased
        self.inv_std = 1.0 / np.sqrt(variance + x.dtype.type(self.epsilon))   # (N, 1), Keras's rsqrt
        x_hat *= self.inv_std                                   # (N, I) *= (N, 1): x̂ for backward
        inv = np.multiply(self.inv_std, self.gamma, out=scratch) if self.scale else self.inv_std   # (N, I)
        np.multiply(x, inv, out=y)                              # (N, I) = (N, I) * (N, I)
        shift = np.multiply(-mean, inv, out=scratch)            # (N, I) = (N, 1) * (N, I), inv used up
        if self.center:
            shift += self.beta                                  # (N, I) += (I,)
        y += shift                                              # (N, I)
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dy (N, I) -> dx (N, I); writes dgamma = Σ_n dy x̂ and dbeta = Σ_n dy (I,).

        With g = dy * gamma (N, I): dx = (g - mean_i(g) - x̂ mean_i(g x̂)) / sqrt(var + eps),
        the means over each row's features (docs/backprop.md#layernormalization).
        """
        _, x_hat, scratch, dx = self._rows(dy)
        self._affine_gradients(dy, x_hat, scratch)
        if not need_dx:
            return None
        g = dx                                                  # (N, I): dL/dx̂, in dx's storage
        if self.scale:
            np.multiply(dy, self.gamma, out=g)                  # (N, I) = (N, I) * (I,)
        else:
            g[...] = dy
        g_x_hat_mean = np.multiply(g, x_hat, out=scratch).mean(axis=1, keepdims=True)   # (N, 1)
        g_mean = g.mean(axis=1, keepdims=True)                  # (N, 1)
        np.multiply(x_hat, g_x_hat_mean, out=scratch)           # (N, I) = (N, I) * (N, 1)
        dx -= scratch                                           # (N, I)
        dx -= g_mean                                            # (N, I) -= (N, 1)
        dx *= self.inv_std                                      # (N, I) *= (N, 1)
        return dx
