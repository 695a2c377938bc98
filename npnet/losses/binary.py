"""Binary crossentropy, as a Keras function (per sample) and as a loss object (per batch).

Shapes: y_true and y_pred (N, K); the per-sample loss (N,) is the mean over
the K labels, and the batch loss is the mean of that over N, so the batch
loss is the mean over all N*K entries. Derivations:
docs/backprop.md#binary-crossentropy,
docs/backprop.md#sigmoid-and-binary-crossentropy and docs/backprop.md#label-smoothing.
"""
from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

import numpy as np

from npnet import activations, backend
from npnet._validation import as_float_array, check_bool, check_float, check_sample_weight, check_unit_interval
from npnet.calls import Calls, run
from npnet.losses.base import Loss, checked_prediction, mean_over_batch, same_shape, weighted_rows
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
    return mean_over_batch(losses.mean(axis=-1), sample_weight)


def smooth_binary_labels(y: np.ndarray, label_smoothing: float) -> np.ndarray:
    """Labels squeezed towards 0.5: y (1 - s) + s / 2, as Keras's binary_crossentropy (y itself for s = 0)."""
    if not label_smoothing:
        return y
    return y * (1.0 - label_smoothing) + 0.5 * label_smoothing


def check_label_smoothing(label_smoothing: Any) -> float:
    """Keras's label_smoothing: a float in [0, 1]."""
    return check_float(label_smoothing, "label_smoothing", 0.0, 1.0)


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
    y_pred = checked_prediction(y_pred)
    y_true = as_float_array(y_true, "y_true", y_pred.dtype, ndim=y_pred.ndim)
    same_shape(y_true, y_pred)
    check_unit_interval(y_true, "y_true")
    if not from_logits and (y_pred.min() < 0 or y_pred.max() > 1):
        raise ValueError("y_pred must be probabilities in [0, 1] when from_logits=False "
                         f"(got values in [{y_pred.min()}, {y_pred.max()}]); pass from_logits=True for logits")
    return y_true, y_pred


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        label_smoothing: float = 0.0) -> np.ndarray:
    """Per-sample binary crossentropy: the mean over the last axis, shape y_true.shape[:-1].

    Keras semantics: probabilities are clipped to [1e-7, 1 - 1e-7] unless
    ``from_logits=True``, in which case y_pred holds logits. ``label_smoothing``
    s replaces the targets by y (1 - s) + s / 2 (docs/backprop.md#label-smoothing).
    """
    label_smoothing = check_label_smoothing(label_smoothing)
    y_true, y_pred = _checked_pair(y_true, y_pred, check_bool(from_logits, "from_logits"))
    return _bce_elementwise(smooth_binary_labels(y_true, label_smoothing), y_pred, from_logits).mean(axis=-1)


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
    own BinaryCrossentropy has no such argument. ``label_smoothing`` s trains
    against y (1 - s) + s / 2, as Keras (docs/backprop.md#label-smoothing).
    """

    name = "binary_crossentropy"
    accuracy_metric = "binary_accuracy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, pos_weight: Any = None):
        self.from_logits = check_bool(from_logits, "from_logits")
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.pos_weight = check_pos_weight(pos_weight)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "pos_weight": None if self.pos_weight is None else self.pos_weight.tolist()}

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        y_true, y_pred = _checked_pair(y_true, y_pred, self.from_logits)
        pos_weight = check_pos_weight(self.pos_weight, y_true.shape[-1])
        if sample_weight is not None:
            if y_true.ndim != 2:
                raise ValueError(f"sample_weight needs y_true of shape (N, K), got {y_true.shape}")
            sample_weight = check_sample_weight(sample_weight, len(y_true), y_true.dtype)
        y_true = smooth_binary_labels(y_true, self.label_smoothing)
        return _reduce(np.atleast_2d(_bce_elementwise(y_true, y_pred, self.from_logits, pos_weight)), sample_weight)

    def check_targets(self, y: Any, units: int, dtype: np.dtype, name: str) -> np.ndarray:
        """Targets (N, K) in [0, 1]; ``pos_weight`` must hold one weight per label and fit ``dtype``."""
        y = super().check_targets(y, units, dtype, name)
        check_unit_interval(y, name)
        pos_weight = check_pos_weight(self.pos_weight, units)
        if pos_weight is not None:
            as_float_array(pos_weight, "pos_weight", dtype, ndim=1)   # must fit the model's dtype
        return y

    def sample_classes(self, y: np.ndarray) -> np.ndarray:
        """A one-unit output's rounded 0/1 targets, as Keras; several labels have no one class per sample."""
        if y.shape[1] != 1:
            raise ValueError(
                f"class_weight needs a one-unit output; this model has {y.shape[1]} labels, and Keras's "
                "class_weight would weigh each sample by its argmax label alone. For per-label weights use "
                "loss=npnet.losses.BinaryCrossentropy(pos_weight=...) (see losses.balanced_pos_weight)")
        return np.round(y[:, 0]).astype(np.intp)

    def fused(self, activation: Any) -> Loss | None:
        """Sigmoid + binary crossentropy from the logits (docs/backprop.md#sigmoid-and-binary-crossentropy).

        Keras does the same for a sigmoid output: the loss is then finite for any
        logit and dz = (p - y) / (N*K). Not for ``from_logits`` (the output already
        is the logits), nor for a subclass with its own forward/backward, which is kept.
        """
        own_math = (type(self).forward is BinaryCrossentropy.forward
                    and type(self).backward is BinaryCrossentropy.backward)
        if own_math and not self.from_logits and activation is activations.sigmoid:
            return SigmoidBinaryCrossentropy(self.pos_weight, self.label_smoothing)
        return None

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Loss of a batch: y_true, y_pred (N, K), sample_weight (N,) or None -> float. Caches all for ``backward``."""
        y_true = smooth_binary_labels(y_true, self.label_smoothing)
        self.y_true, self.y_pred, self.sample_weight = y_true, y_pred, sample_weight
        return _reduce(_bce_elementwise(y_true, y_pred, self.from_logits, self.pos_weight), sample_weight)

    def backward(self) -> np.ndarray:
        """dL/dy_pred (N, K) for the last ``forward``: from logits (sigmoid(z) - y) / (N*K).

        From probabilities the gradient is zero where p was clipped, as with
        tf.clip_by_value (docs/backprop.md#binary-crossentropy). Weights enter as
        in ``SigmoidBinaryCrossentropy.backward``; y is the smoothed target.
        """
        y, y_pred, w = self.y_true, self.y_pred, self.pos_weight
        if self.from_logits:
            return weighted_rows(_dlogits(activations.sigmoid(y_pred), y, w) * (1.0 / y.size), self.sample_weight)
        eps = backend.epsilon()
        p = np.clip(y_pred, eps, 1 - eps)
        inside = (y_pred >= eps) & (y_pred <= 1 - eps)
        positive = y / p if w is None else w.astype(y.dtype, copy=False) * y / p
        return weighted_rows((-positive + (1 - y) / (1 - p)) * inside / y.size, self.sample_weight)


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
    general form of ``_dlogits`` (docs/backprop.md#weighted-losses); with
    ``label_smoothing`` y is the smoothed target throughout.
    """

    name = "sigmoid_binary_crossentropy"
    accuracy_metric = "binary_accuracy"
    logits_gradient = "(sigmoid(z) - y) / (N*K) = (p - y) / {nk}"   # npnet.trace prints it, N*K filled in

    def __init__(self, pos_weight: np.ndarray | None = None, label_smoothing: float = 0.0) -> None:
        self.pos_weight, self.label_smoothing = pos_weight, label_smoothing
        self._work: WorkArrays | None = None

    def _rows(self, z: np.ndarray) -> list[np.ndarray]:
        if self._work is None or self._work.dtype != z.dtype or self._work.columns["loss"] != z.shape[1]:
            self._work = WorkArrays(z.dtype, loss=z.shape[1], tmp=z.shape[1], p=z.shape[1])
        return self._work.rows(len(z))

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Loss over y_true (N, K), logits y_pred (N, K) and weights (N,) or None; sets ``probabilities`` (N, K)."""
        y = smooth_binary_labels(y_true, self.label_smoothing)
        loss, _, p = self._rows(y_pred)
        value = self._value(y, y_pred, sample_weight, loss)
        self.y_true, self.sample_weight = y, sample_weight
        self.probabilities = activations.sigmoid.forward(y_pred, out=p)
        return value

    def value(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None,
              losses: np.ndarray | None = None) -> float:
        """The loss alone over y_true (N, K), logits y_pred (N, K) and weights (N,) or None: without the
        sigmoid, whose p fit's steps leave (``gradient_calls``). ``losses`` (N, K), if given, receives the
        loss of each entry instead of a work array of the loss's own (fit's epoch end hands over the
        probabilities, which it has taken the metrics from by then)."""
        loss = self._rows(y_pred)[0] if losses is None else losses
        return self._value(smooth_binary_labels(y_true, self.label_smoothing), y_pred, sample_weight, loss)

    # The entries of the loss go through _value's passes this many at a time: its second work array is
    # one block's, which stays in the CPU's cache while the passes go over it (``_value``).
    VALUE_BLOCK = 16_384

    def _value(self, y: np.ndarray, z: np.ndarray, sample_weight: np.ndarray | None, loss: np.ndarray) -> float:
        """The loss over (smoothed) labels y and logits z (N, K), each entry's written into ``loss`` (N, K).

        In blocks of rows of about ``VALUE_BLOCK`` entries, with a work array of one block: the same
        operations on each entry as over all N rows at once, so the same bits, but fit's epoch end
        over many rows no longer fills a second (N, K) array, which it wrote for the first time in
        each fit (a page fault per 4 KB) and passed through memory eight times. Measured inside the
        compute-bound fit (100,000 x 20 entries, ``loss`` the epoch's probabilities, single-threaded):
        37.7 -> 6.2 ms, of a 1.05 s epoch.
        """
        if self.pos_weight is None:
            rows = max(1, min(len(z), self.VALUE_BLOCK // z.shape[1]))
            tmp = self._rows(z[:rows])[1]
            if rows == len(z):   # one block: all the rows, without slicing them
                _entries(y, z, loss, tmp)
            else:
                for start in range(0, len(z), rows):
                    block = slice(start, start + rows)
                    _entries(y[block], z[block], loss[block], tmp[:len(z[block])])
        else:
            loss[...] = _bce_elementwise(y, z, from_logits=True, pos_weight=self.pos_weight)
        return _reduce(loss, sample_weight)

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """dL/dz (N, K) from the logits y_pred without the loss value: p = sigmoid(z), then ``backward``."""
        _, _, p = self._rows(y_pred)
        self.y_true, self.sample_weight = smooth_binary_labels(y_true, self.label_smoothing), sample_weight
        self.probabilities = activations.sigmoid.forward(y_pred, out=p)
        return self.backward()

    def gradient_calls(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None,
                       probabilities: np.ndarray | None = None, rows: slice | None = None) -> tuple[Calls, np.ndarray]:
        """``gradient``'s calls, bound to these arrays, for fit's step (which silences exp's overflow itself);
        p goes into ``probabilities`` if given.

        Smoothed labels are computed from y at each step, so they take the one-call binding of ``gradient``,
        as does a subclass that rewrote ``gradient`` or ``backward``. ``rows``: the calls compute p and dz
        for those rows only, dz still divided by the whole batch's N K (fit's split step,
        npnet.training.split; ``splits_rows`` says when this loss can).
        """
        if self.label_smoothing or not self._own_math:   # (a subclass's own gradient runs as one call)
            calls, dz = super().gradient_calls(y_true, y_pred, sample_weight)
            if probabilities is not None:   # p from the logits: a subclass's own gradient need not keep it
                calls += self.probability_calls(y_pred, probabilities)
            return calls, dz
        _, dz, p = self._rows(y_pred)
        p = p if probabilities is None else probabilities
        if rows is None:
            return self.probability_calls(y_pred, p) + self.dz_calls(p, y_true, sample_weight, dz), dz
        weights = None if sample_weight is None else sample_weight[rows]
        return (self.probability_calls(y_pred[rows], p[rows])
                + self.dz_calls(p[rows], y_true[rows], weights, dz[rows], entries=y_true.size)), dz

    @property
    def splits_rows(self) -> bool:
        """Whether ``gradient_calls`` can take a block of rows: its own NumPy calls, no pos_weight."""
        return (self._own_math and type(self).gradient_calls is SigmoidBinaryCrossentropy.gradient_calls
                and not self.label_smoothing and self.pos_weight is None)

    @property
    def _own_math(self) -> bool:
        """Whether ``gradient`` and ``backward`` are this class's, so its calls describe what they compute."""
        return (type(self).gradient is SigmoidBinaryCrossentropy.gradient
                and type(self).backward is SigmoidBinaryCrossentropy.backward)

    def probability_calls(self, y_pred: np.ndarray, out: np.ndarray) -> Calls:
        """p = sigmoid(z) (N, K) into ``out``, for callers that run with overflow warnings off (fit)."""
        return activations.sigmoid.forward_calls(y_pred, out, overflow_silenced=True)

    def gradient_array(self, y_pred: np.ndarray) -> np.ndarray:
        """dz (N, K): the work array ``gradient`` returns for logits like y_pred."""
        return self._rows(y_pred)[1]

    def backward(self) -> np.ndarray:
        """dL/dz = (p - y) / (N*K), shape (N, K), for the last ``forward`` (valid until the next call)."""
        _, dz, _ = self._work.rows(len(self.y_true))
        run(self.dz_calls(self.probabilities, self.y_true, self.sample_weight, dz))
        return dz

    def dz_calls(self, p: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, dz: np.ndarray,
                 entries: int | None = None) -> Calls:
        """The calls that write dz = (p - y) / (N*K) (N, K) into ``dz``, row n scaled by s_n with sample weights;
        N*K is ``entries`` when these are some rows of a batch (y.size by default)."""
        if self.pos_weight is None:
            calls = [partial(np.subtract, p, y, dz)]
        else:
            calls = [partial(_dlogits_into, p, y, self.pos_weight, dz)]
        calls.append(partial(np.multiply, dz, _reciprocal(entries or y.size, dz.dtype), dz))   # dz *= 1 / (N K)
        if sample_weight is not None:
            calls.append(partial(np.multiply, dz, sample_weight[:, None], dz))
        return calls


@lru_cache(maxsize=64)
def _reciprocal(entries: int, dtype: np.dtype) -> np.ndarray:
    """1 / entries as a read-only 0-d array of ``dtype``, one per value: the steps of a batch size all bind
    the same array (npnet.calls.LastBinding says why that counts)."""
    value = np.array(1.0 / entries, dtype)
    value.flags.writeable = False
    return value


def _entries(y: np.ndarray, z: np.ndarray, loss: np.ndarray, tmp: np.ndarray) -> None:
    """Each entry's binary crossentropy from logits z and labels y (n, K) into ``loss`` (tmp: work, (n, K)):
    _bce_elementwise's formula and order of operations, max(z, 0) - z y + log(1 + exp(-|z|))."""
    np.maximum(z, activations.zeros_like(z), out=tmp)
    np.multiply(z, y, out=loss)
    tmp -= loss
    np.abs(z, out=loss)
    np.negative(loss, out=loss)
    np.exp(loss, out=loss)
    np.log1p(loss, out=loss)
    loss += tmp


def _dlogits_into(p: np.ndarray, y: np.ndarray, pos_weight: np.ndarray, out: np.ndarray) -> None:
    out[...] = _dlogits(p, y, pos_weight)


def _mean(values: np.ndarray) -> float:
    """The mean of all entries as a float: ``values.mean()`` without its Python-level overhead."""
    return float(np.add.reduce(values, axis=None) / values.size)
