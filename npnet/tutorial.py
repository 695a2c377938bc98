"""The tutorial's data and model (seeds/multilabel-keras-tutorial.txt), for the demo and the tests.

scikit-learn makes the data, exactly as the tutorial does; it is imported
here lazily, so npnet's library modules never need it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from npnet.layers import Dense
from npnet.models import Sequential

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


def tutorial_model(n_features: int = N_FEATURES, n_classes: int = N_CLASSES) -> Sequential:
    """The tutorial's network 6-32-16-8-3, ReLU hidden layers, sigmoid output, compiled as the tutorial."""
    model = Sequential()
    model.add(Dense(HIDDEN_UNITS[0], activation="relu", input_dim=n_features))
    for units in HIDDEN_UNITS[1:]:
        model.add(Dense(units, activation="relu"))
    model.add(Dense(n_classes, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
