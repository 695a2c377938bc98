"""Binary crossentropy, as a Keras function (per sample) and as a loss object (per batch).

Shapes: y_true and y_pred (N, K); the per-sample loss (N,) is the mean over
the K labels, and the batch loss is the mean of that over N, so the batch
loss is the mean over all N*K entries. Derivations:
docs/backprop.md#binary-crossentropy and
docs/backprop.md#sigmoid-and-binary-crossentropy.
"""
from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

from npnet import activations, backend
from npnet._validation import as_float_array, as_real_array, check_bool, check_unit_interval
from npnet.params import WorkArrays


def _bce_elementwise(y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    """-(y log p + (1 - y) log(1 - p)) per entry, as Keras's TensorFlow backend computes it.

    From logits z: max(z, 0) - z y + log(1 + exp(-|z|)), which equals the above
    with p = sigmoid(z) and never overflows. From probabilities: p is first
    clipped to [eps, 1 - eps] with eps = 1e-7, so the loss stays finite.
    """
    if from_logits:
        z = y_pred
        return np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
    eps = backend.epsilon()
    p = np.clip(y_pred, eps, 1 - eps)
    return -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))


def _checked_pair(y_true: Any, y_pred: Any, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (y_true, y_pred) pair for the public functions; both come back in one float dtype."""
    y_pred_array = as_real_array(y_pred, "y_pred")
    # A float64 array computes in float64, as in Keras; lists, ints and float16 in floatx
    # (TensorFlow makes a list of Python floats float32, not NumPy's float64).
    is_float_array = isinstance(y_pred, (np.ndarray, np.generic)) and y_pred_array.dtype.kind == "f"
    dtype = (np.promote_types(y_pred_array.dtype, backend.float_dtype())
             if is_float_array else backend.float_dtype())
    ndim = max(y_pred_array.ndim, 1)
    y_pred = as_float_array(y_pred_array, "y_pred", dtype, ndim=ndim)
    y_true = as_float_array(y_true, "y_true", dtype, ndim=ndim)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    check_unit_interval(y_true, "y_true")
    if not from_logits and (y_pred.min() < 0 or y_pred.max() > 1):
        raise ValueError("y_pred must be probabilities in [0, 1] when from_logits=False "
                         f"(got values in [{y_pred.min()}, {y_pred.max()}]); pass from_logits=True for logits")
    return y_true, y_pred


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> np.ndarray:
    """Per-sample binary crossentropy: the mean over the last axis, shape y_true.shape[:-1].

    Keras semantics: probabilities are clipped to [1e-7, 1 - 1e-7] unless
    ``from_logits=True``, in which case y_pred holds logits.
    """
    y_true, y_pred = _checked_pair(y_true, y_pred, check_bool(from_logits, "from_logits"))
    return _bce_elementwise(y_true, y_pred, from_logits).mean(axis=-1)


class Loss:
    """A loss with a backward: ``forward(y_true, y_pred) -> float`` then ``backward() -> dL/dy_pred``."""

    name = "loss"

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        raise NotImplementedError

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **constructor arguments}``; ``losses.from_config`` inverts it."""
        return {"name": self.name}

    def backward(self) -> np.ndarray:
        raise NotImplementedError


class BinaryCrossentropy(Loss):
    """Binary crossentropy averaged over labels and batch: a scalar.

    ``BinaryCrossentropy()(y_true, y_pred)`` is the mean of
    ``binary_crossentropy(y_true, y_pred)`` over the batch (Keras's
    "sum_over_batch_size" reduction).
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = check_bool(from_logits, "from_logits")

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "from_logits": self.from_logits}

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        y_true, y_pred = _checked_pair(y_true, y_pred, self.from_logits)
        return _mean(_bce_elementwise(y_true, y_pred, self.from_logits))

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Mean loss of a batch: y_true, y_pred (N, K) -> float. Caches both for ``backward``."""
        self.y_true, self.y_pred = y_true, y_pred
        return _mean(_bce_elementwise(y_true, y_pred, self.from_logits))

    def backward(self) -> np.ndarray:
        """dL/dy_pred (N, K) for the last ``forward``: from logits (sigmoid(z) - y) / (N*K).

        From probabilities the gradient is zero where p was clipped, as with
        tf.clip_by_value (docs/backprop.md#binary-crossentropy).
        """
        y, y_pred = self.y_true, self.y_pred
        if self.from_logits:
            return (activations.sigmoid(y_pred) - y) * (1.0 / y.size)
        eps = backend.epsilon()
        p = np.clip(y_pred, eps, 1 - eps)
        inside = (y_pred >= eps) & (y_pred <= 1 - eps)
        return (-(y / p) + (1 - y) / (1 - p)) * inside / y.size


class SigmoidBinaryCrossentropy(Loss):
    """A sigmoid output layer and binary crossentropy as one step, from the logits z (N, K).

    What ``fit`` uses for a sigmoid output compiled with binary crossentropy,
    as Keras does: the loss is finite for any logit and the gradient at the
    logits is exactly ``dz = (p - y) / (N*K)`` with p = sigmoid(z)
    (docs/backprop.md#sigmoid-and-binary-crossentropy). ``forward`` also leaves
    p in ``probabilities`` for the metrics, so the sigmoid runs once per step.
    All arrays are reused from batch to batch: the training hot path.
    """

    name = "sigmoid_binary_crossentropy"

    def __init__(self) -> None:
        self._work: WorkArrays | None = None

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Mean loss over y_true (N, K) and logits y_pred (N, K); sets ``probabilities`` (N, K)."""
        z, y = y_pred, y_true
        if self._work is None or self._work.dtype != z.dtype or self._work.columns["loss"] != z.shape[1]:
            self._work = WorkArrays(z.dtype, loss=z.shape[1], tmp=z.shape[1], p=z.shape[1])
        loss, tmp, p = self._work.rows(len(z))
        # _bce_elementwise's formula and order of operations: max(z, 0) - z y + log(1 + exp(-|z|))
        np.maximum(z, 0, out=tmp)
        np.multiply(z, y, out=p)
        tmp -= p
        np.abs(z, out=loss)
        np.negative(loss, out=loss)
        np.exp(loss, out=loss)
        np.log1p(loss, out=loss)
        loss += tmp
        self.y_true, self.probabilities = y, activations.sigmoid.forward(z, out=p)
        return _mean(loss)

    def backward(self) -> np.ndarray:
        """dL/dz = (p - y) / (N*K), shape (N, K), for the last ``forward`` (valid until the next call)."""
        _, dz, _ = self._work.rows(len(self.y_true))
        np.subtract(self.probabilities, self.y_true, out=dz)
        dz *= 1.0 / self.y_true.size
        return dz


def _mean(values: np.ndarray) -> float:
    """The mean of all entries as a float: ``values.mean()`` without its Python-level overhead."""
    return float(np.add.reduce(values, axis=None) / values.size)


LossLike = Union[str, Loss, Callable]
_REGISTRY: dict[Any, Callable[[], Loss]] = {
    "binary_crossentropy": BinaryCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
}


def get(identifier: LossLike) -> Loss:
    """A Loss from ``"binary_crossentropy"``, the ``binary_crossentropy`` function or a Loss instance."""
    if isinstance(identifier, Loss):
        return identifier
    try:
        return _REGISTRY[identifier]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {identifier!r}; expected 'binary_crossentropy', "
                         "npnet.losses.binary_crossentropy or an npnet.losses.Loss "
                         "(npnet needs the loss's backward)") from None


def from_config(config: Any) -> Loss:
    """The Loss described by ``Loss.get_config()`` data."""
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ValueError(f"a loss config must be a dict with a 'name', got {config!r}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    if config["name"] not in _REGISTRY:
        raise ValueError(f"unknown loss {config['name']!r}")
    return _REGISTRY[config["name"]](**arguments)
