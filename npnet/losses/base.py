"""The Loss protocol, Keras's batch reduction, and the input checks the loss families share.

Shapes: N samples, K outputs (labels, classes or regression targets). A loss
function (``categorical_crossentropy``, ...) returns one value per sample (N,);
a Loss object reduces them to one float per batch as Keras's
"sum_over_batch_size": the sum over samples, weighted or not, divided by N.
docs/backprop.md#means-over-batch-and-labels.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from npnet import backend
from npnet._validation import as_float_array, as_real_array, check_sample_weight
from npnet.calls import Calls
from npnet.params import WorkArrays


class Loss:
    """A loss with a backward: ``forward(y_true, y_pred) -> float`` then ``backward() -> dL/dy_pred``.

    ``__call__`` is the checked public entry (Keras's class call);
    ``forward``/``backward`` the trusted hot path a model calls on arrays that
    ``check_targets`` has already validated. ``fused(activation)`` returns the
    loss that works on the logits of that output activation, or None.
    ``accuracy_metric`` names what ``compile(metrics=["accuracy"])`` means with
    this loss (None: accuracy means nothing for it).
    """

    name = "loss"
    accuracy_metric: str | None = None
    # Whether ``gradient_calls(..., rows=...)`` binds the gradient of a block of a batch's rows, for fit's
    # split step (npnet.training.split): sigmoid with binary crossentropy.
    splits_rows = False

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        """Batch loss: per-sample losses (N,), weighted by ``sample_weight`` (N,) if given, summed, divided by N."""
        y_true, y_pred = self.checked_pair(y_true, y_pred)
        per_sample = self.per_sample(y_true, y_pred)
        if sample_weight is not None:
            if per_sample.ndim != 1:
                raise ValueError(f"sample_weight needs y_pred of shape (N, K), got {y_pred.shape}")
            sample_weight = check_sample_weight(sample_weight, len(per_sample), per_sample.dtype)
        return mean_over_batch(np.atleast_1d(per_sample), sample_weight)

    def checked_pair(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validate the public call's (y_true, y_pred), as this loss's function does."""
        raise NotImplementedError

    def per_sample(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The loss of each sample, shape y_pred.shape[:-1], on checked arrays."""
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

    def value(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None,
              losses: np.ndarray | None = None) -> float:
        """The loss alone, as ``forward`` returns it. fit's epoch end calls it when the steps left the
        probabilities (its ``gradient_calls(..., probabilities=)``); a loss fused with its activation whose
        forward then has work to skip (``SigmoidBinaryCrossentropy``) writes it, the others are ``forward``.
        ``losses``, an array of y_pred's shape whose contents are no longer needed, may receive each
        entry's loss instead of a work array of the loss's own (this default ignores it)."""
        return self.forward(y_true, y_pred, sample_weight)

    @property
    def computes_value_alone(self) -> bool:
        """Whether ``value`` skips work of ``forward`` and computes what it does: a class below Loss wrote
        ``value``, and no class below that one rewrote ``forward`` (a subclass's own forward is kept)."""
        cls = type(self)
        owner = next(c for c in cls.__mro__ if "value" in vars(c))
        return owner is not Loss and cls.forward is owner.forward

    def probability_calls(self, y_pred: np.ndarray, out: np.ndarray) -> Calls:
        """For a loss that ``computes_value_alone``: the calls that write the probabilities of the logits
        y_pred (N, K) into ``out`` (N, K), which its ``value`` leaves out (fit's validation pass)."""
        raise NotImplementedError(f"{type(self).__name__} writes value, and must say how its probabilities "
                                  "are computed from the logits")

    def gradient_calls(self, y_true: np.ndarray, y_pred: np.ndarray,
                       sample_weight: np.ndarray | None = None) -> tuple[Calls, np.ndarray]:
        """The calls of ``gradient`` bound to these arrays, and the array dL/dy_pred (N, K) they fill.

        One call: ``gradient``, its result copied into the array handed over,
        unless it is that array. A loss that returns the same work array every
        time says so with ``gradient_array``, which then is the array handed
        over; a loss evicts the work arrays of a batch size after a few other
        sizes (``npnet.params.WorkArrays``), so the copy stays for that case.
        Otherwise the array is one of the base class's own for each batch size,
        so the steps of one size bind the same array (npnet.calls.LastBinding).
        """
        dy_pred = self.gradient_array(y_pred)
        if dy_pred is None:
            dy_pred = self._gradient_rows(y_pred)
        return [partial(_gradient_into, self, y_true, y_pred, sample_weight, dy_pred)], dy_pred

    def _gradient_rows(self, y_pred: np.ndarray) -> np.ndarray:
        """An array like y_pred (N, K) of this base class's own, one per batch size (``WorkArrays``)."""
        work = vars(self).get("_bound_gradients")
        if work is None or work.dtype != y_pred.dtype or work.columns["dy"] != y_pred.shape[1]:
            work = self._bound_gradients = WorkArrays(y_pred.dtype, dy=y_pred.shape[1])
        return work.rows(len(y_pred))[0]

    def gradient_array(self, y_pred: np.ndarray) -> np.ndarray | None:
        """The work array that ``gradient`` on outputs like ``y_pred`` returns (while it keeps it), or None."""
        return None

    def check_targets(self, y: Any, units: int, dtype: np.dtype, name: str) -> np.ndarray:
        """A model's targets as a finite ``dtype`` array (N, units); (N,) is accepted for one unit, as Keras."""
        y_array = as_real_array(y, name)
        if y_array.ndim == 1 and units == 1:   # Keras accepts (N,) targets for a one-unit output
            y_array = y_array.reshape(-1, 1)
        y = as_float_array(y_array, name, dtype, ndim=2)
        check_units(y, units, name)
        return y

    def fused(self, activation: Any) -> Loss | None:
        """The loss to use on the logits of an output with ``activation``, or None (use this one on its output)."""
        return None

    def sample_classes(self, y: np.ndarray) -> np.ndarray:
        """The one class of each sample (N,) for Keras's ``class_weight``, from checked targets; or ValueError."""
        raise ValueError(f"class_weight needs targets that name one class per sample; {self.name} has none "
                         "(weigh samples with sample_weight instead)")

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **constructor arguments}``; ``losses.from_config`` inverts it."""
        return {"name": self.name}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items() if key != "name")
        return f"{type(self).__name__}({arguments})"


def mean_over_batch(per_sample: np.ndarray, sample_weight: np.ndarray | None) -> float:
    """Keras's "sum_over_batch_size": (1/N) sum_n s_n loss_n, the plain mean without weights.

    per_sample (N,), sample_weight (N,) or None. The divisor is N, not the sum of the weights.
    """
    if sample_weight is None:
        return float(np.add.reduce(per_sample) / len(per_sample))
    return float(np.add.reduce(per_sample * sample_weight) / len(per_sample))


def weighted_rows(dloss: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    """dloss (N, K), each row n scaled in place by its sample's weight s_n (N,)."""
    if sample_weight is not None:
        dloss *= sample_weight[:, None]
    return dloss


def computing_dtype(y_pred: Any) -> tuple[np.ndarray, np.dtype]:
    """y_pred as a real array and the float dtype a public loss function computes in.

    A float64 array computes in float64, as in Keras; lists, ints and float16
    in floatx (TensorFlow makes a list of Python floats float32, not NumPy's float64).
    """
    array = as_real_array(y_pred, "y_pred")
    is_float_array = isinstance(y_pred, (np.ndarray, np.generic)) and array.dtype.kind == "f"
    dtype = np.promote_types(array.dtype, backend.float_dtype()) if is_float_array else backend.float_dtype()
    return array, dtype


def checked_prediction(y_pred: Any) -> np.ndarray:
    """y_pred as a finite float array of at least one dimension, in ``computing_dtype``'s dtype."""
    array, dtype = computing_dtype(y_pred)
    return as_float_array(array, "y_pred", dtype, ndim=max(array.ndim, 1))


def same_shape(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")


def check_units(y: np.ndarray, units: int, name: str) -> None:
    """Targets (N, K) for an output of ``units`` columns: K must equal units."""
    if y.shape[1] != units:
        raise ValueError(f"{name} must have {units} columns (one per output unit), got shape {y.shape}")


def _gradient_into(loss: Loss, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None,
                   out: np.ndarray) -> None:
    dy_pred = loss.gradient(y_true, y_pred, sample_weight)
    if dy_pred is not out:
        np.copyto(out, dy_pred)
