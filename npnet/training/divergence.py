"""What ``fit`` does when a batch's loss or the weights become NaN or infinite: the divergence guard."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from npnet import utils
from npnet._validation import all_finite
from npnet.calls import run


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
    """Puts back the last weights whose batch loss was finite when training diverges, and raises.

    Each step's loss is computed on the weights *before* its update, and fit
    learns the batch losses only at the end of the epoch (``run_epochs``). So
    the guard copies, once per epoch, the weights and the optimizer's state at
    its start, and the weights before its last step. When batch b of epoch e
    has a non-finite loss, the weights that batch b-1 was computed on are
    rebuilt: the epoch's copy, then its first b-1 steps replayed -- the same
    arithmetic on the same batches, so the same bits; for b = 0 they are the
    copy from before the previous epoch's last step. The random generators'
    states are copied with the weights (after the epoch's shuffle), so a Dropout
    layer draws the same masks again in the replay.
    """

    def __init__(self, step: Any, data: Any, epochs: int):
        self.step, self.data, self.epochs, self.steps = step, data, epochs, data.num_batches
        # a seeded layer's own generators (Dropout's), found once; npnet's global one is looked up every
        # epoch, since set_random_seed replaces it
        self.own_generators = [value for layer in step.layers for value in vars(layer).values()
                               if isinstance(value, np.random.Generator)]
        self.values, self.optimizer = step.parameters.values, step.optimizer          # values (P,)
        self.epoch_start = np.empty_like(self.values)
        # the optimizer's step count and state arrays (Optimizer.state_arrays) at the epoch's start: (live, copy)
        self.optimizer_iterations, self.optimizer_state = 0, []
        # the weights before the last step of this epoch and of the one before it
        self.before_last, self.before_previous_last = np.empty_like(self.values), np.empty_like(self.values)
        self.last_finite_batch: tuple[int, int, float] | None = None

    def begin_epoch(self) -> None:
        """Copy the weights, the optimizer's state and the random states: this epoch's replay starts from them."""
        np.copyto(self.epoch_start, self.values)
        live = self.optimizer.state_arrays()
        if len(live) != len(self.optimizer_state) or any(a is not b for (a, _), b in zip(self.optimizer_state, live)):
            self.optimizer_state = [(array, np.empty_like(array)) for array in live]   # the first epoch's
        for array, copy in self.optimizer_state:
            np.copyto(copy, array)
        self.optimizer_iterations = self.optimizer.iterations
        self.random_states = [(generator, generator.bit_generator.state)
                              for generator in (utils.random_generator(), *self.own_generators)]
        self.before_last, self.before_previous_last = self.before_previous_last, self.before_last

    def before_last_step(self) -> None:
        """Copy the weights before what may be the epoch's last step (its update may overflow them)."""
        np.copyto(self.before_last, self.values)

    def finite(self, epoch: int, step: int, loss: float | Callable[[], float]) -> None:
        """Batch ``step`` of ``epoch`` had the finite loss ``loss`` (or a function that computes it, called
        only for an error message)."""
        self.last_finite_batch = (epoch, step, loss)

    def diverged(self, epoch: int, step: int, loss: float) -> None:
        """Batch ``step`` had a non-finite loss: restore the weights the batch before was computed on, raise."""
        if step == 0:   # the batch before was the previous epoch's last (if any)
            np.copyto(self.values, self.epoch_start if epoch == 0 else self.before_previous_last)
        else:
            np.copyto(self.values, self.epoch_start)
            self.optimizer.iterations = self.optimizer_iterations
            for array, copy in self.optimizer_state:
                np.copyto(array, copy)
            for generator, state in self.random_states:
                generator.bit_generator.state = state
            with np.errstate(over="ignore"):   # as fit's steps run (npnet.training.trainer)
                for program in self.step.programs[:step - 1]:   # fit's compiled steps (npnet.training.step)
                    run(program)
        self.fail(epoch, step, loss, f"the loss of epoch {epoch + 1}/{self.epochs}, batch "
                                     f"{step + 1}/{self.steps} is {loss}")

    def after_epoch(self, epoch: int, step: int, loss: float | Callable[[], float]) -> None:
        """The epoch's last update may have overflowed the weights although its loss (or ``loss()``) was finite."""
        if not all_finite(self.values) and math.isfinite(loss := _value(loss)):
            np.copyto(self.values, self.before_last)
            self.fail(epoch, step, loss, f"the update of epoch {epoch + 1}/{self.epochs}, batch "
                                         f"{step + 1}/{self.steps} (loss {loss:.6g}) made the weights non-finite")

    def fail(self, epoch: int, step: int, loss: float, what: str) -> None:
        self.optimizer.reset()
        value = None
        if self.last_finite_batch is None:
            before = "no batch before it had a finite loss; the weights are those fit started with"
        else:
            e, b, value = self.last_finite_batch
            value = _value(value)
            before = (f"the last finite batch loss was {value:.6g} (epoch {e + 1}/{self.epochs}, batch "
                      f"{b + 1}/{self.steps}); the weights are restored to those it was computed on")
        raise TrainingDivergedError(
            f"training diverged: {what}; {before}, and the optimizer starts afresh (its moments took in the "
            "non-finite step). Lower the learning rate, or pass callbacks=[npnet.callbacks.TerminateOnNaN()] "
            "to stop without an error.", epoch, step, loss, value)


def _value(loss: float | Callable[[], float]) -> float:
    return loss() if callable(loss) else loss
