"""The tutorial's Keras model and training run as functions, for the parity tests and the report.

The data are the tutorial's (``npnet.tutorial.tutorial_data``: the same two
scikit-learn calls). Keras is imported inside ``keras_module()`` so that
importing this module stays cheap.
"""
from __future__ import annotations

import os
import time
from typing import Any, NamedTuple

import numpy as np

from npnet import tutorial


def keras_module() -> Any:
    """Keras 3 on TensorFlow, quiet, on the CPU."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    return keras


def build_model(n_features: int = tutorial.N_FEATURES, n_classes: int = tutorial.N_CLASSES,
                binary_accuracy: bool = True, dtype: str = "float32",
                hidden_units: tuple[int, ...] = tutorial.HIDDEN_UNITS, head: str = "sigmoid") -> Any:
    """The tutorial's 6-32-16-8-3 network, compiled as the tutorial compiles it.

    ``hidden_units`` resizes the ReLU layers (the benchmarks' scaling sweeps);
    ``head="softmax"`` puts a softmax over the classes on top instead, with
    categorical crossentropy and categorical accuracy (the digits benchmark).

    ``binary_accuracy=True`` reports the metric as BinaryAccuracy named
    "accuracy" (what the tutorial's 0.856 measured); ``False`` passes the
    string "accuracy" as written, which Keras 3 resolves to categorical accuracy.
    """
    keras = keras_module()
    model = keras.Sequential([keras.Input(shape=(n_features,), dtype=dtype)]
                             + [keras.layers.Dense(units, activation="relu", dtype=dtype)
                                for units in hidden_units]
                             + [keras.layers.Dense(n_classes, activation=head, dtype=dtype)])
    if head == "softmax":
        model.compile(loss=keras.losses.categorical_crossentropy, optimizer=keras.optimizers.Adam(),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
        return model
    accuracy = keras.metrics.BinaryAccuracy(name="accuracy") if binary_accuracy else "accuracy"
    model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam(), metrics=[accuracy])
    return model


class RunResult(NamedTuple):
    history: dict[str, list[float]]   # per-epoch "loss", "accuracy", "val_loss", "val_accuracy"
    test_loss: float
    test_accuracy: float               # binary accuracy on the tutorial's test split
    weights: list[np.ndarray]          # after training, in get_weights() order
    seconds: float                     # wall time of fit alone


def train(seed: int | None = tutorial.RANDOM_STATE, epochs: int = tutorial.N_EPOCHS,
          initial_weights: list[np.ndarray] | None = None, shuffle: bool = True,
          data: tutorial.TutorialData | None = None) -> RunResult:
    """Train the tutorial's Keras model with the tutorial's settings; seeded by ``keras.utils.set_random_seed``."""
    keras = keras_module()
    data = data or tutorial.tutorial_data()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = build_model()
    if initial_weights is not None:
        model.set_weights(initial_weights)
    start = time.perf_counter()
    history = model.fit(data.x_train, data.y_train, batch_size=tutorial.BATCH_SIZE, epochs=epochs, verbose=0,
                        validation_split=tutorial.VALIDATION_SPLIT, shuffle=shuffle)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=tutorial.BATCH_SIZE, verbose=0)
    return RunResult({key: [float(v) for v in values] for key, values in history.history.items()},
                     float(test_loss), float(test_accuracy), model.get_weights(), seconds)
