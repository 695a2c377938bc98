"""One batch's computations (``Step``), the evaluation loop and the prediction loop.

A ``Step`` reads only a model's public surface (``layers``, ``training_loss()``,
``metrics``, ``optimizer``, ``parameters``); the loops fire the ``on_test_*``
and ``on_predict_*`` hooks of a ``CallbackList``.
"""
from __future__ import annotations

import inspect
from functools import partial
from typing import Any

import numpy as np

from npnet.calls import Calls, calls_of, run
from npnet.layers.base import Layer
from npnet.progbar import Progbar
from npnet.training.callback_list import CallbackList
from npnet.training import split
from npnet.training.relu_masks import ReluBuffers


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
        self.programs: list[Calls] = []   # fit's compiled steps, one per batch (``compile``)
        self.workers: split.Workers | None = None   # the split step's, while fit runs (``compile``, ``close``)
        self._bound: tuple = (None, None)   # (x, training, calls, output) of the last ``forward``
        self.penalty = 0.0       # the regularizers' penalty in the last compiled step run, before its update
        self.penalty_sum = 0.0   # (batch size) x (the regularizers' penalty), summed over compiled steps run
        # The bias trick (npnet.layers.dense), for fit: a layer leaves a column of ones next to its
        # output where it can and the layer above wants one, and the data brings one for the first
        # layer when ``wants_ones_column`` (EpochIterator). Single batches (train_on_batch, evaluate,
        # trace) take the textbook path, x @ W + b.
        self.wants_ones_column = bias_trick and self.layers[0].wants_ones_column
        ones = [bias_trick and below.gives_ones_column and above.wants_ones_column
                for below, above in zip(self.layers, self.layers[1:])]
        self.plan = [(layer, {"ones_column": True} if one else {}) for layer, one in zip(self.layers, ones)]
        self.plan.append((self.layers[-1], {"activate": False} if self.logits else {}))
        self.layer_calls = {layer: calls_of(layer, Layer) for layer in self.layers}   # (forward_calls, backward_calls)
        # fit's step takes the masks of these layers in one call (npnet.training.relu_masks)
        self.relu_layers = [layer for layer, options in self.plan if options.get("ones_column") and layer.relu_output]

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """x (N, I) or [x 1] (N, I+1) -> the output (N, K): the logits when the loss is fused with the activation.

        The calls are bound once per input array: a second pass over the same array (fit's validation
        pass through ``evaluate_batches``, for a regularized model) runs the same ones again.
        """
        if x is not self._bound[0] or training is not self._bound[1]:
            self._bound = (x, training, *self.forward_calls(x, training))
        _, _, calls, output = self._bound
        run(calls)
        return output

    def forward_calls(self, x: np.ndarray, training: bool, out: np.ndarray | None = None,
                      outs: dict[Layer, np.ndarray] | None = None,
                      rows: slice | None = None) -> tuple[Calls, np.ndarray]:
        """The forward pass's calls, bound to x (N, I) or [x 1] (N, I+1), and the output (N, K) they fill
        (``out`` if given; ``outs``: the arrays some layers write their outputs into; ``rows``: for those
        rows of the batch only, the split step's)."""
        calls, outs = [], dict(outs or {})
        if out is not None:
            outs[self.layers[-1]] = out
        for layer, options in self.plan:
            forward_calls, _ = self.layer_calls[layer]
            if layer in outs:
                options = {**options, "out": outs[layer]}
            if rows is not None:
                options = {**options, "rows": rows}
            layer_calls, x = forward_calls(x, training, **options)
            calls += layer_calls
        return calls, x

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

    def compile(self, data: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """fit's training steps: for each batch of ``data`` (an ``EpochIterator``), the list of calls of one
        step, in ``programs``; returns the array (N, K) that the steps write their outputs into, and the
        one they leave the probabilities in when the loss, fused with the output's activation, computes
        its value without them (``Loss.value``), else None.

        A step on a batch makes the same NumPy calls on the same arrays every
        epoch -- only the numbers in them change, reshuffled in place -- so each
        layer, the loss and the optimizer hand over their calls once, bound to
        the batch's arrays and their own work arrays, and an epoch only runs
        them (docs/backprop.md#the-compiled-step). A step: the forward pass,
        its last layer writing into the step's rows of the epoch's outputs
        (N, K), the gradient of the loss at the output (its value is left for
        the epoch's end, from all the outputs), the backward pass, the
        optimizer's update. With
        regularizers, each step adds (batch size) x (their penalty) to ``penalty_sum``.
        """
        self.optimizer.build_for(self.parameters)
        self.penalty_sum, self.programs = 0.0, []
        self.close()
        if self.splits(data.batch_size):
            self.workers = split.Workers(split.blas_threads())
            self.parameter_blocks = self._parameter_blocks(self.workers.count)
        last = self.layers[-1]
        outputs = np.empty((data.num_samples, last.output_dim(last.input_dim)), data.x.dtype)
        probabilities = np.empty_like(outputs) if self.logits and self.loss.computes_value_alone else None
        relu = ReluBuffers(self.relu_layers, data.x.dtype, row_major=self.workers is not None)
        dx_arrays: dict[int, dict[Layer, np.ndarray]] = {}   # the split step's row-major [dx 1], per batch size
        # the step's index within the epoch goes to an apply_calls that takes it (Adam's step sizes); an
        # optimizer's own apply_calls(pairs) binds the same calls for every step
        takes_step = "step" in inspect.signature(self.optimizer.apply_calls).parameters
        for index, end, x_calls, x, y, w in data.batches():
            relu_outputs, relu_masks, mask_calls = relu.bind(len(x))
            if self.workers is not None:
                kept = None if probabilities is None else probabilities[end - len(x):end]
                if len(x) not in dx_arrays:
                    dx_arrays[len(x)] = {layer: np.empty((len(x), layer.input_dim + 1), x.dtype)
                                         for layer in self.layers[1:]}
                self.programs.append(self._split_program(index, data, x, y, w, outputs[end - len(x):end], kept,
                                                         relu_outputs, relu_masks, dx_arrays[len(x)]))
                continue
            calls, output = self.forward_calls(x, True, out=outputs[end - len(x):end], outs=relu_outputs)
            calls = x_calls + calls + mask_calls
            if self.regularized:   # the penalties of this batch's weights and activations, as forward_loss adds them
                calls.append(partial(self._add_penalty, len(x)))
            # only a loss whose value leaves its activation out takes the array its steps leave p in
            kept = {} if probabilities is None else {"probabilities": probabilities[end - len(x):end]}
            loss_calls, d = self.loss.gradient_calls(y, output, w, **kept)
            calls += loss_calls
            for layer in self.layers[::-1]:                # the chain rule, last layer first
                _, backward_calls = self.layer_calls[layer]
                options = {"relu_mask": relu_masks[layer]} if layer in relu_masks else {}
                if layer is self.layers[0]:
                    options["need_dx"] = False            # nothing upstream needs dL/d(data)
                layer_calls, d = backward_calls(d, **options)
                calls += layer_calls
            calls += self.optimizer.apply_calls(self.trainable, *([index] if takes_step else []))
            self.programs.append(calls)
        return outputs, probabilities

    # The split step (npnet.training.split) from a step of this many multiply-adds on: (batch rows) x
    # (trainable parameters), each parameter's gradient taking one per row. The compute-bound problem of
    # benchmarks/scaling.py (2.2e8 a step) gains; a fit of two steps of 7e7 (a 32-32-32-1 net, batches
    # of 32,768) lost, 0.056 against 0.046 s, its threads and buffers made for two steps. See ``splits``.
    SPLIT_MIN = 2 ** 27

    def splits(self, batch_size: int) -> bool:
        """Whether fit splits its steps of ``batch_size`` rows across BLAS's threads (npnet.training.split).

        When BLAS runs on two threads or more (a user's limit counts) and npnet can set it to one; when a
        step is large, ``SPLIT_MIN`` multiply-adds or more; and when every part can bind its calls by
        blocks: layers that split rows (``Layer.splits_rows``: Dense of its own calls, every weight
        trained, no penalty), the hidden ones ReLU whose output goes up with its ones, the loss fused
        with the output's activation and splitting rows (``Loss.splits_rows``), an optimizer that
        updates a slice of the parameters (``Optimizer.splits_parameters``).
        """
        hidden = [layer for layer, _ in self.plan[:-1]]
        return (batch_size * self.parameters.size >= self.SPLIT_MIN
                and self.wants_ones_column and self.logits
                and all(layer.splits_rows for layer in self.layers) and hidden == self.relu_layers
                and self.loss.splits_rows and self.optimizer.splits_parameters and split.blas_threads() >= 2)

    def _parameter_blocks(self, count: int) -> list[tuple[slice, list[tuple[Layer, slice]]]]:
        """``count`` blocks of the flat parameters, each cut at the kernel row nearest to an equal share:
        for each, its slice and the rows of each layer's [W; b] (I+1, O) in it."""
        grads = self.parameters.grads
        kernels = [(layer, (layer.dWb.__array_interface__["data"][0] - grads.__array_interface__["data"][0])
                    // grads.itemsize, *layer.dWb.shape) for layer in self.layers]   # (layer, offset, I+1, O)
        row_starts = sorted({offset + row * width for _, offset, rows, width in kernels for row in range(rows + 1)})
        size = self.parameters.size
        cuts = [0, *(min(row_starts, key=lambda start: abs(start - size * part / count)) for part in range(1, count)),
                size]
        return [(slice(lo, hi), [(layer, slice((max(lo, offset) - offset) // width,
                                               (min(hi, offset + rows * width) - offset) // width))
                                 for layer, offset, rows, width in kernels if lo < offset + rows * width and hi > offset])
                for lo, hi in zip(cuts, cuts[1:])]

    def _split_program(self, index: int, data: Any, x: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                       out: np.ndarray, kept: np.ndarray | None, relu_outputs: dict, relu_masks: dict,
                       dx_arrays: dict) -> Calls:
        """Step ``index`` of the epoch split across ``workers``: the count of the step, then one call that
        runs the two phases (npnet.training.split), the rows of each worker, then its parameters."""
        rows_phase = []
        for block in split.blocks(len(x), self.workers.count):
            calls = data.gather_calls(index, block)
            forward, output = self.forward_calls(x, True, out=out, outs=relu_outputs, rows=block)
            calls += forward
            for layer in self.relu_layers:
                calls += layer.activation.mask_calls(relu_outputs[layer][block], relu_masks[layer][block])
            loss_calls, d = self.loss.gradient_calls(y, output, w, probabilities=kept, rows=block)
            calls += loss_calls
            for layer in self.layers[::-1]:                # the chain rule for these rows, last layer first
                options = {"relu_mask": relu_masks[layer]} if layer in relu_masks else {}
                if layer in dx_arrays:
                    options["out"] = dx_arrays[layer]
                layer_calls, d = layer.backward_calls(d, need_dx=layer is not self.layers[0], rows=block,
                                                      weights=False, **options)
                calls += layer_calls
            rows_phase.append(calls)
        parameters_phase = []
        for span, kernel_rows in self.parameter_blocks:   # the gradient of a block over the whole batch, its update
            calls = [call for layer, rows in kernel_rows for call in layer.weight_gradient_calls(rows)]
            parameters_phase.append(calls + self.optimizer.apply_calls(self.trainable, index, span=span))
        return [*self.optimizer.count_calls(index), partial(self.workers.run, [rows_phase, parameters_phase])]

    def release(self) -> None:
        """BLAS's thread count as it was before the split steps, if any ran (npnet.training.split)."""
        if self.workers is not None:
            self.workers.release()

    def close(self) -> None:
        """End the split step's workers, if any (BLAS's thread count as it was)."""
        if self.workers is not None:
            self.workers.close()
            self.workers = None

    def _add_penalty(self, batch_size: int) -> None:
        self.penalty = sum(layer.regularization_loss() for layer in self.regularized)
        self.penalty_sum += batch_size * self.penalty

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
    one_batch = n <= batch_size   # its loss is the mean over all the entries (as fit's validation pass), not n * loss / n
    batch_begin, batch_logs = callbacks.wants("on_test_batch_begin"), progbar or callbacks.wants("on_test_batch_end")
    for index, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)
        if batch_begin:
            callbacks.on_test_batch_begin(index)
        if stop - start == n:   # one batch: x itself, so that a second pass over it reuses its bound calls
            xb, yb, wb = x, y, sample_weight
        else:
            xb, yb = x[start:stop], y[start:stop]
            wb = None if sample_weight is None else sample_weight[start:stop]
        value = step.forward_loss(xb, yb, wb, training=False)
        loss_sum += (stop - start) * value
        mean = value if one_batch else loss_sum / stop   # the running mean; after the last batch, the mean
        if batch_logs:
            logs = {"loss": mean, **step.metric_logs()}
            callbacks.on_test_batch_end(index, logs)
            if progbar:
                progbar.update(index + 1, logs)
    logs = {"loss": mean, **step.metric_logs()}
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
