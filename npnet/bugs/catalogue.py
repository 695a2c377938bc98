"""The bugs, as patches of npnet's real code (the story of each: docs/bugs.md).

Each ``Patch`` names the real line(s) and the learner's version; the
comment on a new line says what went wrong. Order: Dense, the activations,
the losses, Dropout and BatchNormalization, the optimizers, then two bugs
whose forward and backward are wrong in the same way (a gradient check
cannot see those).
"""
from __future__ import annotations

from npnet.activations import ReLU, Sigmoid, Softmax
from npnet.bugs import Bug, Patch
from npnet.layers.dense import Dense
from npnet.layers.dropout import Dropout
from npnet.layers.normalization import BatchNormalization
from npnet.losses import SigmoidBinaryCrossentropy
from npnet.losses.categorical import SoftmaxCrossentropy
from npnet.optimizers import SGD, Adam
from npnet.optimizers.base import Optimizer

# Dense.backward_calls's product on fit's path, where the bias is folded into the kernel's product (the bias
# trick, docs/backprop.md#the-bias-trick): x carries a column of ones and one product gives [dW; db].
# A Dense bug patches this line as well as the textbook line(s) that train_on_batch, the trace, gradcheck
# and the parity check run: a bug planted in the textbook line only would not touch what fit computes.
# Dense writes its work as calls (docs/backprop.md#the-compiled-step), so a learner's line is a call too:
# a partial of a NumPy function, or a lambda where the learner's arithmetic needs a temporary.
FOLDED = "calls.append(partial(dot, x_t, dz, self.dWb))"
# The 1/(N K) of sigmoid + binary crossentropy's gradient dz = (p - y) / (N K), on fit's path and the textbook's.
SCALE = "calls.append(partial(np.multiply, dz, _reciprocal(entries or y.size, dz.dtype), dz))"

CATALOGUE: list[Bug] = [
    Bug("bias-gradient-all-axes", "Dense: the bias gradient summed over every axis (np.sum without axis=0)", (
        Patch(Dense, "backward_calls", FOLDED,
              FOLDED + "\ncalls.append(lambda: self.db.fill(dz.sum()))   # db's row of [dW; db] overwritten: "
                       "the sum over N *and* O"),
        Patch(Dense, "backward_calls",
              "calls.append(partial(dot, self._work.ones(len(dy)), dz, self.db))",
              "calls.append(lambda: self.db.fill(dz.sum()))   # (O,) <- (): the sum over N *and* O, broadcast to "
              "every unit"))),
    Bug("dW-transposed", "Dense: dW computed transposed, dz^T x instead of x^T dz", (
        Patch(Dense, "backward_calls", FOLDED,
              FOLDED + "\ncalls.append(partial(dot, dz.T, x[:, :-1], self.dW))   # dW's rows redone: fits only a "
                       "square W"),
        Patch(Dense, "backward_calls",
              "calls.append(partial(dot, x_t, dz, self.dW))",
              "calls.append(partial(dot, dz.T, x, self.dW))   # (O, I) = (O, N) @ (N, I): fits only a square W"))),
    Bug("dW-from-output", "Dense: dW from the wrong cached array, the layer's output y instead of its input x", (
        Patch(Dense, "backward_calls", FOLDED,
              FOLDED + "\ncalls.append(partial(dot, self.y[:, :self.units].T, dz, self.dW))   # dW's rows redone "
                       "from y"),
        Patch(Dense, "backward_calls",
              "calls.append(partial(dot, x_t, dz, self.dW))",
              "calls.append(partial(dot, self.y.T, dz, self.dW))   # y, not x: (O, O) fits only a square W"))),
    Bug("gradients-accumulate", "Dense: gradients accumulate across steps (+= into a buffer never reset)", (
        Patch(Dense, "backward_calls", FOLDED,
              "calls.append(lambda: np.add(self.dWb, x.T @ dz, out=self.dWb))   # (I+1, O): adds to the last "
              "step's [dW; db]"),
        Patch(Dense, "backward_calls",
              "calls.append(partial(dot, x_t, dz, self.dW))",
              "calls.append(lambda: np.add(self.dW, x.T @ dz, out=self.dW))   # (I, O): adds to the last step's dW"),
        Patch(Dense, "backward_calls",
              "calls.append(partial(dot, self._work.ones(len(dy)), dz, self.db))",
              "calls.append(lambda: np.add(self.db, dz.sum(axis=0), out=self.db))   # (O,): and to the last "
              "step's db"))),
    Bug("relu-mask-from-y", "ReLU: the derivative [z >= 0] written for z, applied to y = max(z, 0)", (
        Patch(ReLU, "mask_calls",
              "greater = partial(np.greater, y, _constant(0, y.dtype))",
              "greater = partial(np.greater_equal, y, _constant(0, y.dtype))   # y >= 0 everywhere: the mask is all ones"),)),
    Bug("sigmoid-derivative-y", "sigmoid: f'(z) taken as y instead of y (1 - y)", (
        Patch(Sigmoid, "backward",
              "np.subtract(1, y, out=out)\nout *= y",
              "np.copyto(out, y)   # f'(z) = y (1 - y), not y"),),
        model={"activation": "sigmoid"}),
    Bug("loss-missing-1/N", "sigmoid + BCE: the 1/N of the batch mean missing from the gradient", (
        Patch(SigmoidBinaryCrossentropy, "dz_calls", SCALE,
              "calls.append(partial(np.multiply, dz, _reciprocal(y.shape[1], dz.dtype), dz))   # 1/K only: "
              "the forward averages over N too"),)),
    Bug("bce-not-divided-by-outputs", "sigmoid + BCE: the gradient not divided by the number of outputs K", (
        Patch(SigmoidBinaryCrossentropy, "dz_calls", SCALE,
              "calls.append(partial(np.multiply, dz, _reciprocal(len(y), dz.dtype), dz))   # 1/N only: the "
              "forward averages over the K labels too"),)),
    Bug("softmax-gradient-off-by-K", "softmax + crossentropy: the gradient divided by N K, as binary crossentropy's", (
        Patch(SoftmaxCrossentropy, "backward",
              "dz *= 1.0 / n",
              "dz *= 1.0 / self.probabilities.size   # 1/(N K) as in BCE, but here the loss sums over K"),),
        model={"output": "softmax", "loss": "categorical_crossentropy"}),
    Bug("softmax-jacobian-diagonal", "softmax: the backward as if elementwise, y (1 - y) dy, its Jacobian's diagonal only", (
        Patch(Softmax, "backward",
              "np.multiply(dy, y, out=out)\nrow_dot = out.sum(axis=-1, keepdims=True)\nnp.subtract(dy, row_dot, out=out)",
              "np.subtract(1, y, out=out)   # as sigmoid's: the -y_k y_j of every other class left out\n"
              "out *= dy"),),
        model={"output": "softmax", "loss": "mean_squared_error"}),
    Bug("dropout-backward-forgets-mask", "Dropout: the backward scales by 1/(1 - rate) but forgets the mask", (
        Patch(Dropout, "backward",
              "return np.multiply(dy, self.mask, out=dx)",
              "return np.multiply(dy, self._scale, out=dx)   # dy / (1 - rate): dropped units get a gradient too"),),
        model={"inserted": ({"class_name": "Dropout", "config": {"rate": 0.5, "seed": 3}},)}),
    Bug("dropout-backward-forgets-scale", "Dropout: the backward applies the mask but forgets the 1/(1 - rate) scale", (
        Patch(Dropout, "backward",
              "return np.multiply(dy, self.mask, out=dx)",
              "return np.multiply(dy, self.mask > 0, out=dx)   # kept units only, without 1/(1 - rate)"),),
        model={"inserted": ({"class_name": "Dropout", "config": {"rate": 0.5, "seed": 3}},)}),
    Bug("batchnorm-no-mean-terms", "BatchNormalization: the backward treats the batch mean and variance as constants", (
        Patch(BatchNormalization, "backward",
              "np.multiply(x_hat, dy_x_hat_sum / n, out=dx)\nnp.subtract(dy, dx, out=dx)\ndx -= dy_sum / n",
              "np.copyto(dx, dy)   # no - mean(dy) - x_hat mean(dy x_hat): the statistics taken as constants"),),
        model={"inserted": ({"class_name": "BatchNormalization", "config": {}},)}),
    Bug("adam-no-bias-correction", "Adam without bias correction", (
        Patch(Adam, "step_size",
              "return learning_rate * np.sqrt(1 - _power(beta_2, t)) / (1 - _power(beta_1, t))",
              "return np.full_like(t, learning_rate)   # lr alone: sqrt(1 - beta_2**t) / (1 - beta_1**t) left out"),)),
    Bug("adamw-decay-in-the-gradient", "AdamW: the weight decay added to the gradient (L2) instead of to the weights", (
        Patch(Optimizer, "apply",
              "tmp = slots[\"tmp\"]\nnp.multiply(param, keras_rounded(self.weight_decay, dtype), out=tmp)\n"
              "tmp *= lr\nparam -= tmp",
              "grad = grad + keras_rounded(self.weight_decay, dtype) * param   # L2: Adam then divides it by sqrt(v)"),),
        model={"optimizer": {"name": "adamw", "learning_rate": 0.03, "weight_decay": 0.1}}),
    Bug("momentum-sign", "SGD with momentum: the gradient added to the velocity instead of subtracted", (
        Patch(SGD, "update_step",
              "velocity -= tmp",
              "velocity += tmp   # v = momentum v + lr g: uphill"),),
        model={"optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9}}),
    Bug("leaky-relu-both-ways", "ReLU written as a leaky ReLU, forward and backward alike", (
        Patch(ReLU, "forward_calls",
              "return [partial(maximum, z, zeros_like(z), out)]",
              "return [lambda: np.maximum(z, 0.01 * z, out=out)]   # max(z, 0.01 z): leaky"),
        Patch(ReLU, "mask_calls",
              "greater = partial(np.greater, y, _constant(0, y.dtype))\nif above is None or above is mask:\n"
              "return [partial(greater, mask)]\n"
              "return [partial(greater, above), partial(copyto, mask, above)]",
              "return [lambda: np.copyto(mask, np.where(y > 0, 1.0, 0.01))]   # the leaky slope, consistently "
              "(a float mask: a step of fewer than relu_masks.BOOLEAN_MASKS_MIN entries)"))),
    Bug("loss-summed-both-ways", "sigmoid + BCE summed over the batch instead of averaged, forward and backward alike", (
        Patch(SigmoidBinaryCrossentropy, "_value",
              "return _reduce(loss, sample_weight)",
              "return float(loss.sum())   # the sum over N*K entries, not their mean"),
        Patch(SigmoidBinaryCrossentropy, "dz_calls", SCALE,
              "# no 1/(N*K) here: consistent with the summed forward"))),
]


def get(name: str) -> Bug:
    """The catalogued bug called ``name``; ValueError listing the names otherwise."""
    for bug in CATALOGUE:
        if bug.name == name:
            return bug
    raise ValueError(f"unknown bug {name!r}; the catalogue has {[bug.name for bug in CATALOGUE]}")
