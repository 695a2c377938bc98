"""scikit-learn estimators around npnet: ``MultilabelMLPClassifier`` (the tutorial's network),
``MLPClassifier`` (binary, multiclass and multilabel) and ``MLPRegressor``.

Thin estimators around ``npnet.Sequential``: ``fit`` builds Dense layers
(``hidden_layer_sizes``, ReLU by default) under the output the target needs —
sigmoid units with binary crossentropy (binary, multilabel: the tutorial's),
a softmax with sparse categorical crossentropy (multiclass), a linear output
with MSE/MAE/Huber (regression) — and trains it; the trained model is
``model_``. Shapes: X (N, I); y (N, K) a 0/1 indicator matrix (multilabel),
(N,) class labels, or (N,)/(N, K) real targets (regression).

This module is the scikit-learn integration, so it imports scikit-learn at the
top; ``import npnet`` never imports it.
"""
from __future__ import annotations

import contextlib
import numbers
from typing import Any

import numpy as np

try:
    from scipy import sparse
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import Tags
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("npnet.sklearn needs scikit-learn >= 1.6: pip install 'npnet[demo]'") from error

from npnet import activations, backend, optimizers, thresholds, tutorial, utils
from npnet._validation import check_bool, check_float, check_int

# A RandomState random_state gives a Generator seed below this bound.
_SEED_BOUND = np.iinfo(np.int32).max
# Rows per forward pass in predict: bounds the memory of a prediction. The
# results depend on it only through float rounding (tests/unit/test_models.py).
_PREDICT_BATCH_SIZE = 4096


class _MLPBase:
    """What the npnet estimators share: their checked parameters, training a Sequential, its outputs."""

    def _checked_params(self) -> dict[str, Any]:
        """Every constructor parameter checked (errors name it), in the form ``fit`` uses."""
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, (bool, np.bool_)):
            hidden = (hidden,)   # one hidden layer, as MLPClassifier reads an int
        if not isinstance(hidden, (tuple, list)):
            raise TypeError(f"hidden_layer_sizes must be a tuple of ints, got {type(hidden).__name__} {hidden!r}")
        hidden = tuple(check_int(units, f"hidden_layer_sizes[{index}]", minimum=1)
                       for index, units in enumerate(hidden))
        for name in ("activation", "optimizer", "dtype"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str, got {getattr(self, name)!r}")
        activation = activations.get(self.activation)
        # A new optimizer (fresh Adam moments) every fit; its constructor checks learning_rate.
        optimizer = type(optimizers.get(self.optimizer))(learning_rate=self.learning_rate)
        verbose = check_int(self.verbose, "verbose", minimum=0)
        if verbose > 2:
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose}")
        _check_random_state(self.random_state)
        return {"hidden": hidden, "activation": activation, "dtype": backend.float_dtype(self.dtype),
                "optimizer": optimizer,
                "fit": {"epochs": check_int(self.epochs, "epochs", minimum=1),
                        "batch_size": check_int(self.batch_size, "batch_size", minimum=1),
                        "validation_split": check_float(self.validation_split, "validation_split", 0.0, 1.0,
                                                        high_open=True),
                        "shuffle": check_bool(self.shuffle, "shuffle"), "verbose": verbose}}

    def _train(self, X: np.ndarray, targets: np.ndarray, settings: dict[str, Any],
               build: Any) -> None:
        """Build a model with ``build(n_features, settings)`` inside the fit's random stream and train it."""
        with _random_stream(self.random_state):
            # Dense layers draw their weights as they are added: inside the fit's random stream
            model = build(X.shape[1], settings)
            history = model.fit(X, targets, **settings["fit"])
        self.model_, self.history_ = model, history.history
        self.loss_curve_ = list(self.history_["loss"])
        self.n_iter_ = len(self.loss_curve_)

    def _outputs(self, X: Any) -> np.ndarray:
        """The model's outputs for every row of X: (N, K), in the model's dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.model_.dtype)
        return self.model_.predict(X, batch_size=_PREDICT_BATCH_SIZE, verbose=0)


def _mlp(n_features: int, settings: dict[str, Any], outputs: int, activation: str, loss: str,
         metrics: list[str]) -> Any:
    """``tutorial.mlp``: the hidden layers of ``settings`` and an output layer of ``outputs`` units, compiled."""
    return tutorial.mlp(n_features, outputs, settings["hidden"], settings["activation"], settings["optimizer"],
                        settings["dtype"].name, output_activation=activation, loss=loss, metrics=metrics)


class MultilabelMLPClassifier(_MLPBase, ClassifierMixin, BaseEstimator):
    """A multilabel (and binary) MLP classifier trained by npnet, with Keras's training loop.

    Parameters are stored unchanged and checked in ``fit``:
    hidden_layer_sizes : tuple of int, or an int for one hidden layer; ``()`` gives
        one sigmoid layer per label (logistic regression). Default: the tutorial's (32, 16, 8).
    activation : "relu", "tanh", "sigmoid" or "linear", for the hidden layers.
    epochs, batch_size : as ``Sequential.fit``.
    learning_rate, optimizer : an optimizer name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ... as Keras) with that learning rate.
    validation_split : the LAST fraction of the samples is held out (as Keras);
        its loss is ``history_["val_loss"]``.
    shuffle : reshuffle the training samples every epoch.
    random_state : None, an int >= 0 or a ``numpy.random.RandomState``.
        An int seeds a Generator used for this fit only (weights and shuffling);
        npnet's global stream is left untouched, so equal ints give bit-identical
        fits. A RandomState gives a seed from its next draw. None draws from npnet's
        global stream, so ``npnet.utils.set_random_seed(s)`` before ``fit`` makes
        the fit (with ``dtype="float32"``) equal to the tutorial's Sequential trained
        after the same call.
    verbose : 0, 1 or 2, as ``Sequential.fit``.
    threshold : a probability in [0, 1], or one per label (shape (K,)): ``predict``
        gives label k when its probability is > threshold[k], as Keras's binary accuracy.
    dtype : "float64" (the default, as scikit-learn's MLPClassifier on float64 X) or
        "float32" (Keras's default, the tutorial's). Predictions are matrix products,
        and BLAS rounds a row's products differently depending on the batch it sits
        in, its place there and the CPU's kernel: in float32 that moves a probability
        near 0.5 by an ulp, 6e-8, more than scikit-learn's estimator checks allow
        (check_methods_sample_order_invariance: rtol 1e-7, atol 1e-9). In float64 the
        same effect is about 1e-16, so the default estimator passes every check on
        any CPU. It costs about 1.2x float32's fit time on the tutorial, for the same
        test accuracy.

    Fitted attributes: ``model_`` (the trained Sequential), ``history_`` (its
    ``History.history``: per-epoch "loss", "accuracy", "val_*"), ``loss_curve_``,
    ``n_iter_`` (epochs run), ``classes_`` (binary: the two labels; multilabel:
    ``arange(K)``, as MLPClassifier), ``n_outputs_`` (K), ``y_type_`` ("binary"
    for a 1-D y, else "multilabel-indicator"), ``n_features_in_``,
    ``feature_names_in_`` (when X has column names).

    ``score`` is scikit-learn's classifier score, ``accuracy_score``: for
    multilabel y the *subset* accuracy, a sample counting only when all K labels
    are right. ``history_["accuracy"]`` is Keras's binary accuracy, the mean over
    all N*K label decisions: a different, larger number for the same model
    (the tutorial's 0.856 is a binary accuracy).
    """

    def __init__(self, *, hidden_layer_sizes: Any = (32, 16, 8), activation: str = "relu", epochs: int = 50,
                 batch_size: int = 250, learning_rate: float = 1e-3, optimizer: str = "adam",
                 validation_split: float = 0.0, shuffle: bool = True, random_state: Any = None,
                 verbose: int = 0, threshold: Any = 0.5, dtype: str = "float64"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.threshold = threshold
        self.dtype = dtype

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # Sigmoid outputs only: binary or multilabel, never one-of-many (MLPClassifier has the softmax).
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True    # a multilabel y is K binary outputs
        tags.target_tags.single_output = True   # a 1-D binary y
        return tags

    # -- fit -------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> "MultilabelMLPClassifier":
        """Train a new ``model_`` on X (N, I) and y: (N, K) 0/1 indicators, or (N,) with two classes.

        Every parameter is checked before X is read. As in every scikit-learn
        estimator, reading X sets ``n_features_in_`` (and ``feature_names_in_``);
        the other fitted attributes change only once training has succeeded.
        """
        settings = self._checked_params()
        X, y = validate_data(self, X, y, multi_output=True, dtype=settings["dtype"])
        classes, targets, y_type = _encode_targets(y)
        self._thresholds(targets.shape[1])   # refused now, not at the first predict
        # -- every argument is valid: from here on, state changes --
        self._train(X, targets, settings, lambda n_features, settings: _mlp(
            n_features, settings, targets.shape[1], "sigmoid", "binary_crossentropy", ["accuracy"]))
        self.classes_, self.n_outputs_, self.y_type_ = classes, targets.shape[1], y_type
        return self

    def _thresholds(self, n_labels: int) -> np.ndarray:
        """``threshold`` as one probability per label, shape (K,)."""
        return thresholds.per_label(self.threshold, n_labels)

    # -- predict -----------------------------------------------------------------------------

    def _probabilities(self, X: Any) -> np.ndarray:
        """P(label k = 1 | x) for every row of X: (N, K), in the model's dtype."""
        return self._outputs(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Multilabel: (N, K), column k the probability of label k. Binary: (N, 2), P(classes_[0]), P(classes_[1]).

        The columns of a multilabel result need not sum to 1: each label is its own sigmoid.
        """
        probabilities = self._probabilities(X)
        if self.y_type_ == "binary":
            return np.hstack([1 - probabilities, probabilities])
        return probabilities

    def predict(self, X: Any) -> np.ndarray:
        """Multilabel: (N, K) int 0/1, label k when its probability > threshold[k]. Binary: (N,) labels from classes_."""
        probabilities = self._probabilities(X)
        labels = (probabilities > self._thresholds(self.n_outputs_)).astype(np.int64)   # (N, K)
        if self.y_type_ == "binary":
            return self.classes_[labels[:, 0]]
        return labels


class MLPClassifier(MultilabelMLPClassifier):
    """A classifier for every kind of classification target: binary, multiclass and multilabel.

    As ``MultilabelMLPClassifier`` (same parameters, same fitted attributes), and
    a 1-D y with more than two classes trains a softmax output of one unit per
    class with sparse categorical crossentropy, as a Keras user would write it:
    ``predict`` gives the most probable class from ``classes_``,
    ``predict_proba`` the softmax (rows sum to 1), ``y_type_`` is "multiclass".
    ``threshold`` applies to binary and multilabel targets only.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags

    def fit(self, X: Any, y: Any) -> "MLPClassifier":
        """Train on X (N, I) and y: (N,) class labels (two or more classes) or (N, K) 0/1 indicators."""
        settings = self._checked_params()
        X, y = validate_data(self, X, y, multi_output=True, dtype=settings["dtype"])
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)   # one column of labels: scikit-learn's DataConversionWarning
        if y.ndim != 1:
            return super().fit(X, y)
        check_classification_targets(y)
        classes, ids = np.unique(y, return_inverse=True)
        if len(classes) <= 2:
            return super().fit(X, y)
        # -- every argument is valid: from here on, state changes --
        self._train(X, ids, settings, lambda n_features, settings: _mlp(
            n_features, settings, len(classes), "softmax", "sparse_categorical_crossentropy", ["accuracy"]))
        self.classes_, self.n_outputs_, self.y_type_ = classes, len(classes), "multiclass"
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Multiclass: (N, C) softmax probabilities, column c for classes_[c]; else as MultilabelMLPClassifier."""
        if getattr(self, "y_type_", None) == "multiclass":
            return self._outputs(X)
        return super().predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """Multiclass: (N,) the most probable class of classes_; else as MultilabelMLPClassifier."""
        if getattr(self, "y_type_", None) == "multiclass":
            return self.classes_[np.argmax(self._outputs(X), axis=1)]
        return super().predict(X)


class MLPRegressor(_MLPBase, RegressorMixin, BaseEstimator):
    """A regression MLP trained by npnet: Dense hidden layers under a linear output, Keras's training loop.

    Parameters as ``MultilabelMLPClassifier``'s (no threshold), and ``loss``:
    "mse" (default), "mae" or "huber" (Keras's names). y: (N,) or (N, K) finite
    reals; ``predict`` returns the same shape. ``dtype`` defaults to "float64" for
    the classifier's reason: a row's prediction must not depend on its batch's BLAS
    blocking beyond scikit-learn's rtol of 1e-7. ``score`` is scikit-learn's R2.
    Fitted attributes: ``model_``, ``history_`` (per-epoch "loss", "mae"),
    ``loss_curve_``, ``n_iter_``, ``n_outputs_``, ``n_features_in_``.
    """

    _LOSSES = ("mse", "mae", "huber")

    def __init__(self, *, hidden_layer_sizes: Any = (32, 16, 8), activation: str = "relu", epochs: int = 50,
                 batch_size: int = 250, learning_rate: float = 1e-3, optimizer: str = "adam",
                 validation_split: float = 0.0, shuffle: bool = True, random_state: Any = None,
                 verbose: int = 0, loss: str = "mse", dtype: str = "float64"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.loss = loss
        self.dtype = dtype

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def fit(self, X: Any, y: Any) -> "MLPRegressor":
        """Train a new ``model_`` on X (N, I) and y (N,) or (N, K) real targets."""
        settings = self._checked_params()
        if self.loss not in self._LOSSES:
            raise ValueError(f"loss must be one of {self._LOSSES}, got {self.loss!r}")
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=settings["dtype"])
        targets = y.reshape(len(y), -1)
        # -- every argument is valid: from here on, state changes --
        self._train(X, targets, settings, lambda n_features, settings: _mlp(
            n_features, settings, targets.shape[1], "linear", self.loss, ["mae"]))
        self.n_outputs_, self._one_dimensional = targets.shape[1], y.ndim == 1
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions (N,) for a 1-D training y, else (N, K), as float64."""
        outputs = self._outputs(X).astype(np.float64)   # scikit-learn's regressors predict float64
        return outputs[:, 0] if self._one_dimensional else outputs


def _check_random_state(random_state: Any) -> None:
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError("random_state must be None, an int >= 0 or a numpy.random.RandomState, "
                        f"got {type(random_state).__name__} {random_state!r}")
    check_int(random_state, "random_state", minimum=0)


def _random_stream(random_state: Any) -> contextlib.AbstractContextManager:
    """Where a fit's random draws come from: npnet's global stream (None), or a Generator of its own."""
    if random_state is None:
        return contextlib.nullcontext()
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(_SEED_BOUND)   # advances it, as scikit-learn's estimators do
    return utils.use_random_generator(np.random.default_rng(random_state))


def _encode_targets(y: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """(classes_, targets (N, K) of 0/1, kind of y) from a checked y.

    A 1-D y is binary: its two labels become one output, classes_[1] -> 1.
    A 2-D y is a multilabel indicator matrix (only 0 and 1): K outputs, classes_ = arange(K).
    """
    if sparse.issparse(y):
        y = y.toarray()
    check_classification_targets(y)   # "Unknown label type" for a continuous y, as scikit-learn words it
    if y.ndim == 1:
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y has only one class ({classes.tolist()[0]!r}); a binary classifier needs two")
        if len(classes) > 2:
            raise ValueError(f"Only binary classification is supported. The type of the target is "
                             f"{type_of_target(y, input_name='y')} ({len(classes)} classes); for several "
                             "labels per sample pass y as an (N, K) 0/1 indicator matrix")
        return classes, encoded.reshape(-1, 1), "binary"
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        values = np.unique(y)
        raise ValueError(f"a 2-D y must be a multilabel indicator matrix of 0s and 1s, got the values "
                         f"{values[:5].tolist()}{' ...' if len(values) > 5 else ''}")
    return np.arange(y.shape[1]), y, "multilabel-indicator"
