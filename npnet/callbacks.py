"""Callbacks: hooks that ``fit`` calls around epochs and batches, as in Keras.

``History`` records every epoch's logs and is returned by ``fit``;
``ProgbarLogger`` draws the progress display for ``verbose`` 1 and 2.
"""
from __future__ import annotations

import sys
from typing import Any

from npnet.progbar import Progbar


class Callback:
    """Base class: override the hooks you need. ``self.model`` is set before training starts."""

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class History(Callback):
    """``history[key]`` is the list of per-epoch values of ``key`` ("loss", metrics, "val_"...)."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar (``verbose=1``) or one line per epoch (``verbose=2``)."""

    def __init__(self, verbose: int, epochs: int, steps: int, stream=None):
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.stream = stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self.stream.write(f"Epoch {epoch + 1}/{self.epochs}\n")
        self.progbar = Progbar(self.steps, self.verbose, self.stream)

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 < self.steps:   # the last step is drawn with the validation logs
            self.progbar.update(batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.progbar.update(self.steps, logs or {})
