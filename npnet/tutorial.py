"""The tutorial's data and model (seeds/multilabel-keras-tutorial.txt), for the demo and the tests.

scikit-learn makes the data, exactly as the tutorial does; it is imported
here lazily, so npnet's library modules never need it.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from npnet.activations import ActivationLike
from npnet import regularizers
from npnet.layers import Activation, BatchNormalization, Dense, Dropout, Input
from npnet.models import Sequential
from npnet.optimizers import OptimizerLike

# The tutorial's configuration options.
N_SAMPLES, N_FEATURES, N_CLASSES, N_LABELS = 10000, 6, 3, 2
N_EPOCHS, RANDOM_STATE, BATCH_SIZE, VALIDATION_SPLIT = 50, 42, 250, 0.2
TEST_SIZE = 0.33
HIDDEN_UNITS = (32, 16, 8)


class TutorialData(NamedTuple):
    x_train: np.ndarray   # (6700, 6) float64 feature counts
    x_test: np.ndarray    # (3300, 6)
    y_train: np.ndarray   # (6700, 3) int64 labels in {0, 1}
    y_test: np.ndarray    # (3300, 3)


def tutorial_data(random_state: int = RANDOM_STATE, *, n_samples: int = N_SAMPLES, n_features: int = N_FEATURES,
                  n_classes: int = N_CLASSES, n_labels: int = N_LABELS,
                  test_size: float = TEST_SIZE) -> TutorialData:
    """make_multilabel_classification + train_test_split, by default with the tutorial's settings.

    ``random_state`` seeds both calls, as in the tutorial; the keyword
    arguments let ``npnet train`` vary the data (shapes in ``TutorialData``
    are for the defaults).
    """
    try:
        from sklearn.datasets import make_multilabel_classification
        from sklearn.model_selection import train_test_split
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the tutorial's data needs scikit-learn: pip install 'npnet[demo]'") from None
    x, y = make_multilabel_classification(n_samples=n_samples, n_features=n_features, n_classes=n_classes,
                                          n_labels=n_labels, random_state=random_state)
    return TutorialData(*train_test_split(x, y, test_size=test_size, random_state=random_state))


def mlp(n_features: int, n_outputs: int, hidden: Sequence[int] = HIDDEN_UNITS, activation: ActivationLike = "relu",
        optimizer: OptimizerLike = "adam", dtype: str | None = None, *, output_activation: str = "sigmoid",
        loss: str = "binary_crossentropy", metrics: Sequence[str] = ("accuracy",), dropout: float = 0.0,
        batchnorm: bool = False, l2: float = 0.0) -> Sequential:
    """Dense hidden layers under an output layer of ``n_outputs`` units, compiled with ``loss`` and ``metrics``.

    Layers draw their initial weights as they are added, so the same seed gives
    the same weights to every caller (the demo, the CLI, the scikit-learn
    estimators). Options (``npnet train --dropout --batchnorm --l2``): ``dropout`` > 0 adds a
    ``Dropout(dropout)`` after each hidden layer; ``batchnorm`` makes each hidden
    layer Dense (no bias) -> BatchNormalization -> Activation; ``l2`` > 0 puts an
    ``L2(l2)`` penalty on every kernel.
    """
    penalty = regularizers.L2(l2) if l2 else None
    model = Sequential([Input(shape=(n_features,))], dtype=dtype)
    for units in hidden:
        if batchnorm:
            # No bias before batch norm: it subtracts the batch mean, so a bias would get a zero gradient
            # (and Adam would step it by float32 rounding noise); beta is the layer's shift.
            model.add(Dense(units, use_bias=False, kernel_regularizer=penalty))
            model.add(BatchNormalization())
            model.add(Activation(activation))
        else:
            model.add(Dense(units, activation=activation, kernel_regularizer=penalty))
        if dropout:
            model.add(Dropout(dropout))
    model.add(Dense(n_outputs, activation=output_activation, kernel_regularizer=penalty))
    model.compile(loss=loss, optimizer=optimizer, metrics=list(metrics))
    return model


def multilabel_model(n_features: int, n_labels: int, hidden: Sequence[int] = HIDDEN_UNITS,
                     activation: ActivationLike = "relu", optimizer: OptimizerLike = "adam",
                     dtype: str | None = None, *, dropout: float = 0.0, batchnorm: bool = False,
                     l2: float = 0.0) -> Sequential:
    """The tutorial's architecture for any sizes: ``mlp`` with a sigmoid output of K units, compiled as the
    tutorial compiles (binary crossentropy, ``metrics=["accuracy"]``). With the defaults it is the tutorial's model.
    """
    return mlp(n_features, n_labels, hidden, activation, optimizer, dtype, dropout=dropout, batchnorm=batchnorm, l2=l2)


def tutorial_model(n_features: int = N_FEATURES, n_classes: int = N_CLASSES) -> Sequential:
    """The tutorial's network 6-32-16-8-3, ReLU hidden layers, sigmoid output, compiled as the tutorial."""
    return multilabel_model(n_features, n_classes)
