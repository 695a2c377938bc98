"""The training loop, in parts that each own their arguments (as keras/src/trainers/epoch_iterator.py says):

``trainer.Trainer`` (``Sequential`` inherits it): ``fit``/``evaluate``/``train_on_batch``:
    - epochs, verbose, validation_data, the order of events (``run_epochs``)
``data``:
    - validation_split (``split_validation``), class_weight (``class_weights_as_sample_weights``)
    - batch_size, shuffle, sample_weight (``EpochIterator``)
``callback_list.CallbackList``:
    - callbacks, History, the progress bar; which hooks fire, with what logs
``divergence.DivergenceGuard``:
    - what happens when a batch's loss or the weights become NaN or infinite
``step``:
    - one batch's forward, loss, backward and update (``Step``); the evaluation and prediction loops

Shapes: x (N, I), y (N, K), sample weights (N,); glossary in ``npnet.layers.base``.
"""
from npnet.training.callback_list import HOOKS, CallbackList
from npnet.training.data import EpochIterator, check_batch_size, class_weights_as_sample_weights, split_validation
from npnet.training.divergence import DivergenceGuard, TrainingDivergedError
from npnet.training.step import Step, evaluate_batches, predict_batches
from npnet.training.trainer import Trainer, check_verbose, run_epochs

__all__ = ["HOOKS", "CallbackList", "DivergenceGuard", "EpochIterator", "Step", "Trainer", "TrainingDivergedError",
           "check_batch_size", "check_verbose", "class_weights_as_sample_weights", "evaluate_batches",
           "predict_batches", "run_epochs", "split_validation"]
