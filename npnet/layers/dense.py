"""``Dense``: a fully connected layer, ``y = activation(x @ W + b)``. Glossary: ``npnet.layers.base``."""
from __future__ import annotations

from typing import Any

import numpy as np

from npnet import activations, initializers
from npnet._validation import check_bool, check_int
from npnet.layers.base import Layer, Weight
from npnet.params import WorkArrays


class Dense(Layer):
    """A fully connected layer: ``y = activation(x @ W + b)``.

    x (N, I), W (I, O) "kernel", b (O,) "bias", y (N, O). Gradients are derived
    in docs/backprop.md#dense.
    """

    def __init__(self, units: int, activation: activations.ActivationLike = None, use_bias: bool = True,
                 kernel_initializer: initializers.InitializerLike = "glorot_uniform",
                 bias_initializer: initializers.InitializerLike = "zeros",
                 input_dim: int | None = None, input_shape: tuple[int] | None = None,
                 name: str | None = None, trainable: bool = True):
        self.units = check_int(units, "units", minimum=1)
        self.activation = activations.get(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        super().__init__(name=name, trainable=trainable, input_dim=input_dim, input_shape=input_shape)

    # -- parameters -----------------------------------------------------------------

    def output_dim(self, input_dim: int) -> int:
        return self.units

    def weights_spec(self, input_dim: int) -> list[Weight]:
        """kernel (I, O), then bias (O,) if ``use_bias``."""
        kernel = Weight("kernel", (input_dim, self.units), self.kernel_initializer)
        return [kernel, Weight("bias", (self.units,), self.bias_initializer)] if self.use_bias else [kernel]

    def bind(self, input_dim: int, values: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        super().bind(input_dim, values, grads)
        self.W, self.dW = values[0], grads[0]                       # (I, O); dW None when frozen
        if self.use_bias:
            self.b, self.db = values[1], grads[1]                   # (O,)
        # An activation whose backward needs its input (gelu, silu) gets z kept in an array of its own.
        self._keeps_z = getattr(self.activation, "needs_input", False)
        self._work = WorkArrays(self.W.dtype, y=self.units, dz=self.units, dx=input_dim,
                                **({"z": self.units} if self._keeps_z else {}))

    @property
    def kernel(self) -> np.ndarray:
        """W, shape (I, O): a view into the parameter buffer."""
        return self.W

    @property
    def bias(self) -> np.ndarray | None:
        """b, shape (O,), or None without a bias."""
        return self.b if self.use_bias else None

    # -- forward and backward -----------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False, activate: bool = True) -> np.ndarray:
        """x (N, I) -> y (N, O). With ``activate=False`` returns the logits z = x @ W + b.

        The output layer of a sigmoid + binary crossentropy model runs with
        ``activate=False`` in training: the loss then works on the logits
        (docs/backprop.md#sigmoid-and-binary-crossentropy).
        """
        rows = self._work.rows(len(x))
        z = rows[0]
        np.matmul(x, self.W, out=z)                     # (N, O) = (N, I) @ (I, O)
        if self.use_bias:
            z += self.b                                 # (N, O) += (O,), broadcast over rows
        self.x, self.activated = x, activate            # backward needs x for dW, y for f'
        if activate and self._keeps_z:
            self.z = rows[3]
            np.copyto(self.z, z)                        # (N, O), kept: y overwrites z below
        self.y = self.activation.forward(z, out=z) if activate else z   # (N, O), in place
        return self.y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dy (N, O) -> dx (N, I); writes dW (I, O) and db (O,) unless the layer is frozen.

        dz = dy * f'(z); dW = x^T dz; db = dz^T 1 (the sum over the batch); dx = dz W^T
        (docs/backprop.md#dense). The first layer passes ``need_dx=False``:
        nothing upstream needs dL/dx of the data, so its matmul is skipped.
        """
        rows = self._work.rows(len(dy))
        dz, dx = rows[1], rows[2]
        if self.activated and self._keeps_z:
            dz = self.activation.backward(self.y, dy, out=dz, z=self.z)   # (N, O)
        elif self.activated:
            dz = self.activation.backward(self.y, dy, out=dz)   # (N, O)
        else:
            dz = dy                                             # dy is already dL/dz
        if self.dW is not None:
            np.matmul(self.x.T, dz, out=self.dW)                # (I, O) = (I, N) @ (N, O)
            if self.use_bias:
                np.matmul(self._work.ones(len(dy)), dz, out=self.db)   # (O,) = (N,) @ (N, O)
        if not need_dx:
            return None
        return np.matmul(dz, self.W.T, out=dx)                  # (N, I) = (N, O) @ (O, I)

    def get_config(self) -> dict[str, Any]:
        """``Dense(**config)`` rebuilds this layer (without its weights)."""
        return {"units": self.units, "activation": activations.serialize(self.activation, f"layer {self.name!r}"), "use_bias": self.use_bias,
                **super().get_config()}

    def __repr__(self) -> str:
        return f"<Dense {self.name!r} units={self.units} activation={self.activation.name}>"
