"""One batch's computations (``Step``), the evaluation loop and the prediction loop.

A ``Step`` reads only a model's public surface (``layers``, ``training_loss()``,
``metrics``, ``optimizer``, ``parameters``); the loops fire the ``on_test_*``
and ``on_predict_*`` hooks of a ``CallbackList``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from npnet.layers.base import Layer
from npnet.progbar import Progbar
from npnet.training.callback_list import CallbackList


class Step:
    """A compiled, built model's batch computations on trusted arrays: forward, loss, backward, update.

    Reads only the model's public surface: ``layers``, ``training_loss()``,
    ``metrics``, ``optimizer`` and ``parameters`` (the flat buffers). With
    ``bias_trick`` (fit's step) the layers that can fold their bias into their
    kernel's product do (docs/backprop.md#the-bias-trick).
    """

    def __init__(self, model: Any, bias_trick: bool = False):
        self.layers: list[Layer] = model.layers
        self.loss, self.logits = model.training_loss()
        self.metrics, self.optimizer, self.parameters = model.metrics, model.optimizer, model.parameters
        self.regularized = [layer for layer in self.layers if layer.penalized]
        self.above_first = self.layers[:0:-1]
        self.trainable = [self.parameters.trainable_pair()]   # the optimizer's one pair (grads[:T], values[:T])
        self.penalty = 0.0   # the regularizers' penalty in the last ``train`` step
        # The bias trick (npnet.layers.dense), for fit: a layer leaves a column of ones next to its
        # output where it can and the layer above wants one, and the data brings one for the first
        # layer when ``wants_ones_column`` (EpochIterator). Single batches (train_on_batch, evaluate,
        # trace) take the textbook path, x @ W + b.
        self.wants_ones_column = bias_trick and self.layers[0].wants_ones_column
        ones = [bias_trick and below.gives_ones_column and above.wants_ones_column
                for below, above in zip(self.layers, self.layers[1:])]
        self.plan = [(layer, {"ones_column": True} if one else {}) for layer, one in zip(self.layers, ones)]
        self.plan.append((self.layers[-1], {"activate": False} if self.logits else {}))

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """x (N, I) or [x 1] (N, I+1) -> the output (N, K): the logits when the loss is fused with the activation."""
        for layer, arguments in self.plan:
            x = layer.forward(x, training, **arguments)
        return x

    def backward(self, doutput: np.ndarray) -> None:
        """The chain rule, last layer first: each layer turns dL/d(its output) into dL/d(its input).

        docs/backprop.md#the-chain-rule-layer-by-layer writes it out for the tutorial's network.
        """
        d = doutput
        for layer in self.above_first:                # the layers from the last down to the second
            d = layer.backward(d)
        self.layers[0].backward(d, need_dx=False)   # nothing upstream needs dL/d(data)

    def forward_loss(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, training: bool,
                     update_metrics: bool = True) -> float:
        """Forward and loss of one batch; updates the metrics from the probabilities.

        ``sample_weight`` (N,) weighs the loss only: compiled metrics stay
        unweighted, as Keras's ``metrics`` (it weighs only ``weighted_metrics``).
        """
        output = self.forward(x, training)
        value = self.loss.forward(y, output, sample_weight)
        for layer in self.regularized:
            value += layer.regularization_loss()
        if update_metrics and self.metrics:
            probabilities = self.loss.probabilities if self.logits else output
            for metric in self.metrics:
                metric.update(y, probabilities)
        return value

    def __call__(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """One training step: forward, loss, backward, update. Returns the loss before the update."""
        value = self.forward_loss(x, y, sample_weight, training=True)
        self.backward(self.loss.backward())
        self.optimizer.build_for(self.parameters)   # once: evaluate and predict leave the optimizer unbuilt
        self.optimizer.apply(self.trainable)
        return value

    def train(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """One training step without the loss value or the metrics: forward, gradient, backward, update.

        Returns the output (N, K) it computed before the update (the logits for
        a fused loss), valid until the next step: ``run_epochs`` keeps the
        epoch's outputs and computes the loss and the metrics once, at its end.
        """
        output = self.forward(x, training=True)
        if self.regularized:   # the penalties of this batch's weights and activations, as forward_loss adds them
            self.penalty = sum(layer.regularization_loss() for layer in self.regularized)
        self.backward(self.loss.gradient(y, output, sample_weight))
        self.optimizer.apply(self.trainable)
        return output

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def metric_logs(self) -> dict[str, float]:
        return {metric.name: metric.result() for metric in self.metrics}


def evaluate_batches(step: Step, x: np.ndarray, y: np.ndarray, batch_size: int,
                     sample_weight: np.ndarray | None, callbacks: CallbackList,
                     progbar: Progbar | None = None) -> dict[str, float]:
    """Batch-size-weighted mean loss and the metrics over checked arrays, firing the ``on_test_*`` hooks."""
    step.reset_metrics()
    callbacks.on_test_begin()
    loss_sum, n, logs = 0.0, len(x), {}
    batch_begin, batch_logs = callbacks.wants("on_test_batch_begin"), progbar or callbacks.wants("on_test_batch_end")
    for index, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)
        if batch_begin:
            callbacks.on_test_batch_begin(index)
        weights = None if sample_weight is None else sample_weight[start:stop]
        loss_sum += (stop - start) * step.forward_loss(x[start:stop], y[start:stop], weights, training=False)
        if batch_logs:
            logs = {"loss": loss_sum / stop, **step.metric_logs()}
            callbacks.on_test_batch_end(index, logs)
            if progbar:
                progbar.update(index + 1, logs)
    logs = {"loss": loss_sum / n, **step.metric_logs()}
    callbacks.on_test_end(logs)
    return logs


def predict_batches(layers: list[Layer], x: np.ndarray, batch_size: int, out: np.ndarray,
                    callbacks: CallbackList, progbar: Progbar | None = None) -> np.ndarray:
    """The forward pass (inference mode) over x (N, I) in batches, into ``out`` (N, K); fires ``on_predict_*``."""
    callbacks.on_predict_begin()
    for index, start in enumerate(range(0, len(x), batch_size)):
        callbacks.on_predict_batch_begin(index)
        batch = x[start:start + batch_size]
        for layer in layers:
            batch = layer.forward(batch, False)
        out[start:start + batch_size] = batch
        callbacks.on_predict_batch_end(index, {"outputs": out[start:start + batch_size]})
        if progbar:
            progbar.update(index + 1, {})
    callbacks.on_predict_end()
    return out
