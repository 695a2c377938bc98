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
from npnet._validation import as_float_array, as_real_array, check_bool, check_sample_weight, check_unit_interval
from npnet.params import WorkArrays


def _bce_elementwise(y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool,
                     pos_weight: np.ndarray | None = None) -> np.ndarray:
    """-(w y log p + (1 - y) log(1 - p)) per entry, as Keras's TensorFlow backend computes it; w = 1 by default.

    From logits z: max(z, 0) - z y + log(1 + exp(-|z|)), which equals the above
    with p = sigmoid(z) and never overflows; with a per-label ``pos_weight`` w (K,),
    TensorFlow's weighted_cross_entropy_with_logits:
    (1 - y) z + (1 + (w - 1) y) (log(1 + exp(-|z|)) + max(-z, 0)).
    From probabilities: p is first clipped to [eps, 1 - eps] with eps = 1e-7,
    so the loss stays finite.
    """
    if pos_weight is not None:
        pos_weight = pos_weight.astype(y_true.dtype, copy=False)   # as TF casts it to the logits' dtype
    if from_logits:
        z = y_pred
        if pos_weight is None:
            return np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
        log_weight = 1 + (pos_weight - 1) * y_true
        return (1 - y_true) * z + log_weight * (np.log1p(np.exp(-np.abs(z))) + np.maximum(-z, 0))
    eps = backend.epsilon()
    p = np.clip(y_pred, eps, 1 - eps)
    positive = y_true * np.log(p) if pos_weight is None else pos_weight * y_true * np.log(p)
    return -(positive + (1 - y_true) * np.log(1 - p))


def _reduce(losses: np.ndarray, sample_weight: np.ndarray | None) -> float:
    """Keras's "sum_over_batch_size": (1/N) sum_n s_n * mean_k loss[n, k]; the plain mean without weights.

    losses (N, K), sample_weight (N,) or None. Note the divisor is N, not the sum of the weights.
    """
    if sample_weight is None:
        return _mean(losses)
    return float(np.add.reduce(losses.mean(axis=-1) * sample_weight) / len(losses))


def _weighted(dloss: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    """dloss (N, K) = d(mean over N K)/d(entry), scaled in place by each sample's weight s (N,)."""
    if sample_weight is not None:
        dloss *= sample_weight[:, None]
    return dloss


def check_pos_weight(pos_weight: Any, labels: int | None = None) -> np.ndarray | None:
    """``pos_weight`` as a float64 (K,) array of finite weights > 0 (a number means one for every label)."""
    if pos_weight is None:
        return None
    array = np.asarray(pos_weight)
    if array.dtype.kind not in "iuf" or array.ndim > 1 or array.size == 0:
        raise TypeError(f"pos_weight must be a positive number or a 1-D list of them (one per label), "
                        f"got {pos_weight!r}")
    array = array.astype(np.float64).reshape(-1)
    if not np.isfinite(array).all() or (array <= 0).any():
        raise ValueError(f"pos_weight must be finite and > 0, got {array.tolist()}")
    if labels is not None and array.size not in (1, labels):
        raise ValueError(f"pos_weight must hold one weight per label ({labels}), got {array.size}")
    return array


def balanced_pos_weight(y: Any) -> np.ndarray:
    """Per-label positive weights n_negative / n_positive (K,) from targets y (N, K) in {0, 1}.

    With these, each label's positives weigh as much in the loss as its
    negatives (as PyTorch's ``BCEWithLogitsLoss(pos_weight=...)`` documentation suggests).
    """
    y = as_float_array(y, "y", np.float64, ndim=2)
    check_unit_interval(y, "y")
    positives = y.sum(axis=0)
    if (positives == 0).any() or (positives == len(y)).any():
        raise ValueError("every label needs both positive and negative samples in y to balance them, "
                         f"got positives per label {positives.tolist()} of {len(y)}")
    return (len(y) - positives) / positives


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
    """The loss protocol: what a model asks of its loss (SPEC: issue 12).

    ``loss(y_true, y_pred, sample_weight=None)`` is the checked public call;
    ``forward``/``backward`` the trusted hot path (``backward() -> dL/dy_pred``
    for the last ``forward``); ``check_targets`` validates a model's targets for
    this loss; ``fused(activation)`` offers a loss that starts from the output
    layer's logits (or None); ``accuracy_metric`` names what ``"accuracy"``
    means with this loss. Adding a loss is one subclass plus a registry entry.
    """

    name = "loss"
    accuracy_metric: str | None = None

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        raise NotImplementedError

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """dL/dy_pred (N, K) without the loss value: all a training step needs (``npnet.training``).

        By default ``forward`` then ``backward``; a loss whose value costs extra
        calls skips them (``SigmoidBinaryCrossentropy``): fit computes the value
        once per epoch, from the outputs it kept.
        """
        self.forward(y_true, y_pred, sample_weight)
        return self.backward()

    def check_targets(self, y: Any, units: int, dtype: np.dtype, name: str) -> np.ndarray:
        """A model's targets as a finite ``dtype`` array (N, units); (N,) is accepted for one unit, as Keras."""
        y_array = as_real_array(y, name)
        if y_array.ndim == 1 and units == 1:   # Keras accepts (N,) targets for a one-unit output
            y_array = y_array.reshape(-1, 1)
        y = as_float_array(y_array, name, dtype, ndim=2)
        if y.shape[1] != units:
            raise ValueError(f"{name} must have {units} columns (one per output unit), got shape {y.shape}")
        return y

    def fused(self, activation: Any) -> "Loss | None":
        """A loss computed from the logits of an output layer with this ``activation``, or None (the default)."""
        return None

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **constructor arguments}``; ``losses.from_config`` inverts it."""
        return {"name": self.name}


class BinaryCrossentropy(Loss):
    """Binary crossentropy averaged over labels and batch: a scalar.

    ``BinaryCrossentropy()(y_true, y_pred)`` is the mean of
    ``binary_crossentropy(y_true, y_pred)`` over the batch (Keras's
    "sum_over_batch_size" reduction); with ``sample_weight`` (N,) each sample's
    loss is weighted and the sum still divided by N, as Keras does.
    ``pos_weight`` (a number or K per-label weights > 0) weighs the positive
    term of each label, ``-(w y log p + (1 - y) log(1 - p))``, as TensorFlow's
    ``weighted_cross_entropy_with_logits`` and PyTorch's ``BCEWithLogitsLoss``:
    the per-label answer to imbalanced labels (``balanced_pos_weight``). Keras's
    own BinaryCrossentropy has no such argument.
    """

    name = "binary_crossentropy"
    accuracy_metric = "binary_accuracy"

    def __init__(self, from_logits: bool = False, pos_weight: Any = None):
        self.from_logits = check_bool(from_logits, "from_logits")
        self.pos_weight = check_pos_weight(pos_weight)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "from_logits": self.from_logits,
                "pos_weight": None if self.pos_weight is None else self.pos_weight.tolist()}

    def check_targets(self, y: Any, units: int, dtype: np.dtype, name: str) -> np.ndarray:
        """Targets (N, K) in [0, 1]; ``pos_weight`` must hold one weight per label and fit ``dtype``."""
        y = super().check_targets(y, units, dtype, name)
        check_unit_interval(y, name)
        pos_weight = check_pos_weight(self.pos_weight, units)
        if pos_weight is not None:
            as_float_array(pos_weight, "pos_weight", dtype, ndim=1)   # must fit the model's dtype
        return y

    def fused(self, activation: Any) -> "Loss | None":
        """Sigmoid + binary crossentropy from the logits (docs/backprop.md#sigmoid-and-binary-crossentropy).

        Keras does the same for a sigmoid output: the loss is then finite for any
        logit and dz = (p - y) / (N*K). Not for ``from_logits`` (the output already
        is the logits), nor for a subclass with its own forward/backward, which is kept.
        """
        own_math = (type(self).forward is BinaryCrossentropy.forward
                    and type(self).backward is BinaryCrossentropy.backward)
        if own_math and not self.from_logits and activation is activations.sigmoid:
            return SigmoidBinaryCrossentropy(self.pos_weight)
        return None

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        y_true, y_pred = _checked_pair(y_true, y_pred, self.from_logits)
        pos_weight = check_pos_weight(self.pos_weight, y_true.shape[-1])
        if sample_weight is not None:
            if y_true.ndim != 2:
                raise ValueError(f"sample_weight needs y_true of shape (N, K), got {y_true.shape}")
            sample_weight = check_sample_weight(sample_weight, len(y_true), y_true.dtype)
        return _reduce(np.atleast_2d(_bce_elementwise(y_true, y_pred, self.from_logits, pos_weight)), sample_weight)

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Loss of a batch: y_true, y_pred (N, K), sample_weight (N,) or None -> float. Caches all for ``backward``."""
        self.y_true, self.y_pred, self.sample_weight = y_true, y_pred, sample_weight
        return _reduce(_bce_elementwise(y_true, y_pred, self.from_logits, self.pos_weight), sample_weight)

    def backward(self) -> np.ndarray:
        """dL/dy_pred (N, K) for the last ``forward``: from logits (sigmoid(z) - y) / (N*K).

        From probabilities the gradient is zero where p was clipped, as with
        tf.clip_by_value (docs/backprop.md#binary-crossentropy). Weights enter as
        in ``SigmoidBinaryCrossentropy.backward``.
        """
        y, y_pred, w = self.y_true, self.y_pred, self.pos_weight
        if self.from_logits:
            return _weighted(_dlogits(activations.sigmoid(y_pred), y, w) * (1.0 / y.size), self.sample_weight)
        eps = backend.epsilon()
        p = np.clip(y_pred, eps, 1 - eps)
        inside = (y_pred >= eps) & (y_pred <= 1 - eps)
        positive = y / p if w is None else w.astype(y.dtype, copy=False) * y / p
        return _weighted((-positive + (1 - y) / (1 - p)) * inside / y.size, self.sample_weight)


def _dlogits(p: np.ndarray, y: np.ndarray, pos_weight: np.ndarray | None) -> np.ndarray:
    """d(loss entry)/dz: p - y, or (1 - y) - (1 + (w - 1) y)(1 - p) with per-label positive weights w."""
    if pos_weight is None:
        return p - y
    pos_weight = pos_weight.astype(y.dtype, copy=False)
    return (1 - y) - (1 + (pos_weight - 1) * y) * (1 - p)


class SigmoidBinaryCrossentropy(Loss):
    """A sigmoid output layer and binary crossentropy as one step, from the logits z (N, K).

    What ``fit`` uses for a sigmoid output compiled with binary crossentropy,
    as Keras does: the loss is finite for any logit and the gradient at the
    logits is exactly ``dz = (p - y) / (N*K)`` with p = sigmoid(z)
    (docs/backprop.md#sigmoid-and-binary-crossentropy). ``forward`` also leaves
    p in ``probabilities`` for the metrics, so the sigmoid runs once per step.
    All arrays are reused from batch to batch: the training hot path.
    Sample weights s (N,) scale row n of dz by s_n; ``pos_weight`` takes the
    general form of ``_dlogits`` (docs/backprop.md#weighted-losses).
    """

    name = "sigmoid_binary_crossentropy"
    accuracy_metric = "binary_accuracy"

    def __init__(self, pos_weight: np.ndarray | None = None) -> None:
        self.pos_weight = pos_weight
        self._work: WorkArrays | None = None

    def _rows(self, z: np.ndarray) -> list[np.ndarray]:
        if self._work is None or self._work.dtype != z.dtype or self._work.columns["loss"] != z.shape[1]:
            self._work = WorkArrays(z.dtype, loss=z.shape[1], tmp=z.shape[1], p=z.shape[1])
        return self._work.rows(len(z))

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Loss over y_true (N, K), logits y_pred (N, K) and weights (N,) or None; sets ``probabilities`` (N, K)."""
        z, y = y_pred, y_true
        loss, tmp, p = self._rows(z)
        if self.pos_weight is None:
            # _bce_elementwise's formula and order of operations: max(z, 0) - z y + log(1 + exp(-|z|))
            np.maximum(z, 0, out=tmp)
            np.multiply(z, y, out=p)
            tmp -= p
            np.abs(z, out=loss)
            np.negative(loss, out=loss)
            np.exp(loss, out=loss)
            np.log1p(loss, out=loss)
            loss += tmp
        else:
            loss[...] = _bce_elementwise(y, z, from_logits=True, pos_weight=self.pos_weight)
        self.y_true, self.sample_weight = y, sample_weight
        self.probabilities = activations.sigmoid.forward(z, out=p)
        return _reduce(loss, sample_weight)

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """dL/dz (N, K) from the logits y_pred without the loss value: p = sigmoid(z), then ``backward``."""
        _, _, p = self._rows(y_pred)
        self.y_true, self.sample_weight = y_true, sample_weight
        self.probabilities = activations.sigmoid.forward(y_pred, out=p)
        return self.backward()

    def backward(self) -> np.ndarray:
        """dL/dz = (p - y) / (N*K), shape (N, K), for the last ``forward`` (valid until the next call)."""
        _, dz, _ = self._work.rows(len(self.y_true))
        if self.pos_weight is None:
            np.subtract(self.probabilities, self.y_true, out=dz)
        else:
            dz[...] = _dlogits(self.probabilities, self.y_true, self.pos_weight)
        dz *= 1.0 / self.y_true.size
        return _weighted(dz, self.sample_weight)


def _mean(values: np.ndarray) -> float:
    """The mean of all entries as a float: ``values.mean()`` without its Python-level overhead."""
    return float(np.add.reduce(values, axis=None) / values.size)


LossLike = Union[str, Loss, Callable]
# Names, Keras class names and the Keras-style functions -> the Loss class. Adding a loss adds its entries here.
_REGISTRY: dict[Any, Callable[..., Loss]] = {
    "binary_crossentropy": BinaryCrossentropy,
    "BinaryCrossentropy": BinaryCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
}


def names() -> list[str]:
    """The loss names ``compile`` and ``from_config`` accept, sorted."""
    return sorted(key for key in _REGISTRY if isinstance(key, str))


def get(identifier: LossLike) -> Loss:
    """A Loss from a registered name ("binary_crossentropy"), its Keras function or class name, or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    try:
        return _REGISTRY[identifier]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {identifier!r}; expected one of {names()}, "
                         "one of npnet.losses' functions or an npnet.losses.Loss "
                         "(npnet needs the loss's backward)") from None


def serialize(loss: Loss) -> dict[str, Any]:
    """``loss.get_config()``: what a saved model stores."""
    return loss.get_config()


def from_config(config: Any) -> Loss:
    """The Loss described by ``Loss.get_config()`` data."""
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ValueError(f"a loss config must be a dict with a 'name', got {config!r}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    if config["name"] not in _REGISTRY:
        raise ValueError(f"unknown loss {config['name']!r}; expected one of {names()}")
    return _REGISTRY[config["name"]](**arguments)
