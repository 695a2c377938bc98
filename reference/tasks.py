"""The parity tasks: the tutorial (multilabel), scikit-learn's digits (10-class softmax), its diabetes data (regression).

Each task has its data, its npnet model and the same model written in Keras
by hand (the ground truth), compiled alike, and the fit settings both use.
``run`` trains both from npnet's initial weights on the same batches in the
same order (``shuffle=False``) and returns what the parity report and the
tests compare. Keras is imported only when a Keras model is built.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

import npnet
from npnet import tutorial
from npnet.layers import Dense, Input
from reference import keras_model


class TaskData(NamedTuple):
    x_train: np.ndarray   # (N, I) float64
    x_test: np.ndarray
    y_train: np.ndarray   # (N, K) labels / (N,) class ids / (N, 1) standardised targets
    y_test: np.ndarray


def digits_data(random_state: int = 0) -> TaskData:
    """scikit-learn's 8x8 digits: 1797 images as 64 pixel values / 16 in [0, 1], class ids 0-9; 1/3 held out."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    return TaskData(*train_test_split(x / 16.0, y, test_size=1 / 3, random_state=random_state, stratify=y))


def diabetes_data(random_state: int = 0) -> TaskData:
    """scikit-learn's diabetes: 442 patients, 10 features and the disease progression after a year.

    Features and target are standardised with the training part's mean and
    standard deviation (targets (N, 1), in units of the training std, 77.1),
    then rounded to float32 numbers: Keras casts float64 inputs to its floatx
    (float32), so a float64 model sees the same data on both sides.
    """
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y.reshape(-1, 1), test_size=1 / 3,
                                                        random_state=random_state)
    x_mean, x_std, y_mean, y_std = x_train.mean(0), x_train.std(0), y_train.mean(), y_train.std()
    parts = ((x_train - x_mean) / x_std, (x_test - x_mean) / x_std, (y_train - y_mean) / y_std,
             (y_test - y_mean) / y_std)
    return TaskData(*(part.astype(np.float32).astype(np.float64) for part in parts))


def tutorial_task_data() -> TaskData:
    data = tutorial.tutorial_data()
    return TaskData(data.x_train, data.x_test, data.y_train, data.y_test)


@dataclass(frozen=True)
class Task:
    """One parity task: data, the npnet model, its hand-written Keras twin, and the fit both use."""

    name: str
    description: str
    data: Callable[[], TaskData]
    hidden: tuple[int, ...]
    outputs: int
    output_activation: str
    loss: str
    keras_loss: str                   # Keras's class for the loss, built in the model's dtype
    metric: str                       # the compiled metric's name in both histories
    metric_label: str                 # what that metric is, for the report
    keras_metric: Callable[[Any], Any]
    fit: dict[str, Any] = field(default_factory=dict)   # batch_size, epochs, validation_split

    def npnet_model(self, n_features: int, dtype: str = "float32") -> npnet.Sequential:
        """Dense ReLU hidden layers and the output layer, compiled with Adam, the loss and the metric."""
        model = npnet.Sequential([Input(shape=(n_features,))]
                                 + [Dense(units, activation="relu") for units in self.hidden]
                                 + [Dense(self.outputs, activation=self.output_activation)], dtype=dtype)
        model.compile(optimizer="adam", loss=self.loss, metrics=[self.metric])
        return model

    def keras_model(self, n_features: int, dtype: str = "float32") -> Any:
        """The same network written in Keras, compiled alike.

        The loss is built in the model's dtype: Keras's losses otherwise compute in
        floatx (float32), which for a float64 model also drops the logits a softmax
        or sigmoid output carries (README, "Parity with Keras").
        """
        keras = keras_model.keras_module()
        model = keras.Sequential([keras.Input(shape=(n_features,), dtype=dtype)]
                                 + [keras.layers.Dense(units, activation="relu", dtype=dtype)
                                    for units in self.hidden]
                                 + [keras.layers.Dense(self.outputs, activation=self.output_activation,
                                                       dtype=dtype)])
        model.compile(optimizer=keras.optimizers.Adam(), loss=getattr(keras.losses, self.keras_loss)(dtype=dtype),
                      metrics=[self.keras_metric(keras)])
        return model


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("tutorial", "the tutorial's multilabel problem: 6-32-16-8-3, sigmoid, binary crossentropy",
         tutorial_task_data, tutorial.HIDDEN_UNITS, tutorial.N_CLASSES, "sigmoid", "binary_crossentropy",
         "BinaryCrossentropy", "accuracy", "binary accuracy",
         lambda keras: keras.metrics.BinaryAccuracy(name="accuracy"),
         {"batch_size": tutorial.BATCH_SIZE, "epochs": tutorial.N_EPOCHS,
          "validation_split": tutorial.VALIDATION_SPLIT}),
    Task("digits", "scikit-learn's digits: 64-32-10, softmax, sparse categorical crossentropy",
         digits_data, (32,), 10, "softmax", "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy",
         "accuracy", "accuracy", lambda keras: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
         {"batch_size": 32, "epochs": 30, "validation_split": 0.2}),
    Task("diabetes", "scikit-learn's diabetes: 10-32-1, linear output, mean squared error",
         diabetes_data, (32,), 1, "linear", "mse", "MeanSquaredError", "mae", "mean absolute error",
         lambda keras: keras.metrics.MeanAbsoluteError(name="mae"),
         {"batch_size": 16, "epochs": 60, "validation_split": 0.2}),
)}


def run(task: Task, epochs: int | None = None, seed: int = 0, dtype: str = "float32") -> dict:
    """Train npnet and Keras from the same initial weights on the same batches; return both sides' results.

    Each side: ``history`` (per-epoch loss, metric and their val_ forms), ``test``
    (loss, metric) on the held-out part, ``weights`` after training, ``seconds`` of fit.
    """
    data = task.data()
    settings = {**task.fit, **({} if epochs is None else {"epochs": epochs})}
    npnet.utils.set_random_seed(seed)
    model = task.npnet_model(data.x_train.shape[1], dtype)
    reference = task.keras_model(data.x_train.shape[1], dtype)
    reference.set_weights(model.get_weights())
    return {name: _fit(fitted, data, settings) for name, fitted in (("npnet", model), ("keras", reference))}


def _fit(model: Any, data: TaskData, settings: dict[str, Any]) -> dict:
    """Fit (timed) and evaluate one side; the same calls for npnet and Keras."""
    start = time.perf_counter()
    history = model.fit(data.x_train, data.y_train, verbose=0, shuffle=False, **settings)
    seconds = time.perf_counter() - start
    test = model.evaluate(data.x_test, data.y_test, batch_size=settings["batch_size"], verbose=0)
    return {"history": {key: [float(v) for v in values] for key, values in history.history.items()},
            "test": tuple(float(v) for v in test), "seconds": seconds, "weights": model.get_weights()}
