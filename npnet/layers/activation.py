"""``Activation``: an activation function as a layer of its own, ``y = f(x)`` elementwise (Keras's ``Activation``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from npnet import activations
from npnet.layers.base import Layer
from npnet.params import WorkArrays


class Activation(Layer):
    """``Activation("relu")``: y = f(x), x and y (N, I); dx = dy * f'(x) (docs/backprop.md#activations)."""

    def __init__(self, activation: activations.ActivationLike, name: str | None = None, trainable: bool = True,
                 input_dim: int | None = None, input_shape: tuple[int] | None = None):
        self.activation = activations.get(activation)
        super().__init__(name=name, trainable=trainable, input_dim=input_dim, input_shape=input_shape)

    def bind(self, input_dim: int, values: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        super().bind(input_dim, values, grads)
        self._work = None

    def _rows(self, x: np.ndarray) -> list[np.ndarray]:
        if self._work is None or self._work.dtype != x.dtype:
            self._work = WorkArrays(x.dtype, z=x.shape[1], y=x.shape[1], dx=x.shape[1])
        return self._work.rows(len(x))

    def forward(self, x: np.ndarray, training: bool = False, activate: bool = True) -> np.ndarray:
        """x (N, I) -> y = f(x) (N, I), or x itself with ``activate=False`` (a fused loss takes the logits)."""
        z, y, _ = self._rows(x)
        self.activated = activate
        if not activate:
            self.y = x
            return x
        # An activation that needs its input for the backward (gelu, silu) keeps a copy of it:
        # x belongs to the layer below, which may overwrite it before this backward runs.
        self.z = None
        if getattr(self.activation, "needs_input", False):
            np.copyto(z, x)                                    # (N, I)
            self.z = z
        self.y = self.activation.forward(x, out=y)             # (N, I)
        return self.y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if not need_dx:
            return None
        if not self.activated:
            return dy                                          # dy is already dL/dx
        _, _, dx = self._rows(dy)
        if self.z is not None:
            return self.activation.backward(self.y, dy, out=dx, z=self.z)   # (N, I)
        return self.activation.backward(self.y, dy, out=dx)   # (N, I)

    def get_config(self) -> dict[str, Any]:
        return {"activation": activations.serialize(self.activation, f"layer {self.name!r}"), **super().get_config()}
