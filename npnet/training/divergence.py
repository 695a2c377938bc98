"""What ``fit`` does when a batch's loss or the weights become NaN or infinite: the divergence guard."""
from __future__ import annotations

import math
from typing import Any

import numpy as np


class TrainingDivergedError(FloatingPointError):
    """Raised by ``fit`` when a batch's loss is NaN or infinite and no callback stopped training.

    ``epoch`` and ``batch`` (counted from 0, as callbacks see them) locate the
    batch, ``loss`` is its value, ``last_finite_loss`` the loss of the batch
    before it (None if there was none). The model's weights are those that
    batch before was computed on: the last weights with a finite loss (or, if
    the very first batch diverged, the weights fit started with). The optimizer
    is reset (``Optimizer.reset``): its moments had taken in the non-finite step.
    """

    def __init__(self, message: str, epoch: int, batch: int, loss: float, last_finite_loss: float | None):
        super().__init__(message)
        self.epoch, self.batch, self.loss, self.last_finite_loss = epoch, batch, loss, last_finite_loss


class DivergenceGuard:
    """Keeps the last weights whose batch loss was finite, and puts them back when training diverges.

    Each step's loss is computed on the weights *before* its update, and the
    update is already applied when ``fit`` sees the loss: so the weights are
    copied before every step (one copy of P values, small next to the step's
    matrix products), and the copy is kept when that step's loss is finite.
    """

    def __init__(self, values: np.ndarray, optimizer: Any, epochs: int, steps: int):
        self.values, self.optimizer, self.epochs, self.steps = values, optimizer, epochs, steps   # values (P,)
        self.before_step, self.last_finite = np.empty_like(values), None
        self.last_finite_batch: tuple[int, int, float] | None = None

    def before(self) -> None:
        np.copyto(self.before_step, self.values)

    def after(self, epoch: int, step: int, loss: float, stopped: bool) -> None:
        """Record a finite loss; raise for a non-finite one unless a callback stopped training (TerminateOnNaN)."""
        if math.isfinite(loss):
            if self.last_finite is None:
                self.last_finite = np.empty_like(self.values)
            self.last_finite, self.before_step = self.before_step, self.last_finite
            self.last_finite_batch = (epoch, step, loss)
        elif not stopped:
            self.fail(epoch, step, loss, f"the loss of epoch {epoch + 1}/{self.epochs}, batch "
                                         f"{step + 1}/{self.steps} is {loss}")

    def after_epoch(self, epoch: int, step: int, loss: float) -> None:
        """The epoch's last update may have overflowed the weights although its loss was finite."""
        if math.isfinite(loss) and not np.isfinite(self.values).all():
            self.fail(epoch, step, loss, f"the update of epoch {epoch + 1}/{self.epochs}, batch "
                                         f"{step + 1}/{self.steps} (loss {loss:.6g}) made the weights non-finite")

    def fail(self, epoch: int, step: int, loss: float, what: str) -> None:
        np.copyto(self.values, self.before_step if self.last_finite is None else self.last_finite)
        self.optimizer.reset()
        if self.last_finite_batch is None:
            before = "no batch before it had a finite loss; the weights are those fit started with"
        else:
            e, b, value = self.last_finite_batch
            before = (f"the last finite batch loss was {value:.6g} (epoch {e + 1}/{self.epochs}, batch "
                      f"{b + 1}/{self.steps}); the weights are restored to those it was computed on")
        raise TrainingDivergedError(
            f"training diverged: {what}; {before}, and the optimizer starts afresh (its moments took in the "
            "non-finite step). Lower the learning rate, or pass callbacks=[npnet.callbacks.TerminateOnNaN()] "
            "to stop without an error.", epoch, step, loss,
            None if self.last_finite_batch is None else self.last_finite_batch[2])
