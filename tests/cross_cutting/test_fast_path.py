"""The optimised training step is the textbook algorithm, to the last bit.

``Sequential.fit`` runs in place, on one flat buffer, with reused work arrays,
fused steps, the bias folded into the kernel's product and the loss computed
once per epoch. Here the same training is written the plain way: fresh arrays
for every intermediate, a Python list of weights, the formulas of
docs/backprop.md one per line, the bias trick as its textbook form
``[x 1] @ [W; b]``. Both must give bit-identical histories and weights, so no
speed-up can change a number. Bit for bit needs the same BLAS calls on the
same layouts: where fit computes a product column-major (between two Dense
layers, docs/backprop.md#column-major-products) the textbook loop takes the
same transposed product of a column-major copy. Where the trick reorders a
sum (the bias added inside the product, not after it),
``test_the_bias_trick_changes_only_rounding`` bounds the difference by float32
rounding, and ``test_column_major_products_change_only_rounding`` bounds the
column-major products against the plain ones.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from float_rounding import gamma

import npnet
from npnet.layers import Dense
from npnet.optimizers import SGD, Adam, keras_rounded

DERIVATIVE_FROM_OUTPUT = {                      # f'(z) written in terms of y = f(z)
    "relu": lambda y: (y > 0).astype(y.dtype),
    "leaky_relu": lambda y: np.where(y > 0, y.dtype.type(1), y.dtype.type(np.float32(0.2))),   # Keras's slope
    "elu": lambda y: np.where(y < 0, y + 1, y.dtype.type(1)),
    "tanh": lambda y: 1 - y * y,
    "sigmoid": lambda y: (1 - y) * y,
    "linear": lambda y: np.ones_like(y),
}
FUNCTION = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "linear": lambda z: z,
            "leaky_relu": lambda z: np.where(z < 0, z * z.dtype.type(np.float32(0.2)), z),
            "elu": lambda z: np.where(z < 0, np.expm1(z), z),
            "sigmoid": lambda z: 1 / (1 + np.exp(-z))}
KEEPS_ONES = {"relu", "linear", "leaky_relu", "elu"}   # f(1) = 1: the layer can hand a column of ones upward


def sigmoid(z):
    return np.reciprocal(np.exp(-z) + 1)


def with_ones(h):
    return np.hstack([h, np.ones((len(h), 1), h.dtype)])


def textbook_fit(weights, activations, x, y, x_val, y_val, optimizer, epochs, batch_size, orders):
    """Mini-batch training of a sigmoid-output network with BCE from the logits, allocating freely.

    A layer whose input carries a column of ones -- the data, or the output of
    a layer whose activation keeps 1 -- computes ``[h 1] @ [W; b]``; any other
    ``h @ W + b``. Each epoch's loss and accuracy come from all its logits at
    once; the validation pass is one batch.
    """
    weights = [w.copy() for w in weights]
    dtype = weights[0].dtype.type
    folded = [True] + [activation in KEEPS_ONES for activation in activations[:-1]]
    moments = [np.zeros_like(w) for w in weights], [np.zeros_like(w) for w in weights]
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    step = 0

    # Between two Dense layers fit keeps [h 1] and dL/d[h 1] column-major and computes their products
    # transposed (npnet.layers.dense): z^T = Wb^T [h 1]^T and dx^T = Wb dz^T.
    column_major = [False] + folded[1:]                 # is layer l's input a column-major [h 1]?

    def forward(xb):
        outputs = [xb]
        for layer, activation in enumerate(activations):
            h, W, b = outputs[-1], weights[2 * layer], weights[2 * layer + 1]
            last = layer == len(activations) - 1
            if folded[layer]:
                h1 = np.asfortranarray(with_ones(h)) if column_major[layer] else with_ones(h)
                Wb = np.vstack([W, b])
                z = np.dot(Wb.T, h1.T).T if not last and folded[layer + 1] else np.dot(h1, Wb)
            else:
                z = np.dot(h, W) + b
            outputs.append(z if last else FUNCTION[activation](z))
        return outputs                                   # the last entry is the logits

    def loss_and_accuracy(z, yb):
        loss = np.maximum(z, 0) - z * yb + np.log1p(np.exp(-np.abs(z)))
        correct = np.count_nonzero((sigmoid(z) > 0.5) == yb)
        return float(np.add.reduce(loss, axis=None) / loss.size), correct / yb.size

    for epoch in range(epochs):
        xs, ys = (x[orders[epoch]], y[orders[epoch]]) if orders is not None else (x, y)
        logits = []
        for start in range(0, len(xs), batch_size):
            xb, yb = xs[start:start + batch_size], ys[start:start + batch_size]
            outputs = forward(xb)
            logits.append(outputs[-1])
            grads = [None] * len(weights)
            dz = (sigmoid(outputs[-1]) - yb) * dtype(1.0 / yb.size)      # dL/dz at the logits
            for layer in reversed(range(len(activations))):
                h, W, b = outputs[layer], weights[2 * layer], weights[2 * layer + 1]
                if folded[layer]:
                    h1 = np.asfortranarray(with_ones(h)) if column_major[layer] else with_ones(h)
                    dWb = np.dot(h1.T, dz)                              # [dW; db] = [h 1]^T dz
                    grads[2 * layer], grads[2 * layer + 1] = dWb[:-1], dWb[-1]
                    dx = np.dot(np.vstack([W, b]), dz.T).T[:, :-1]      # the ones' column of dx is dropped
                else:
                    grads[2 * layer] = np.dot(h.T, dz)                  # dW = h^T dz
                    grads[2 * layer + 1] = np.dot(np.ones(len(dz), dtype), dz)   # db = dz^T 1, the batch sum
                    dx = np.dot(dz, W.T)                                # dx = dz W^T
                if layer:
                    dz = dx * DERIVATIVE_FROM_OUTPUT[activations[layer - 1]](outputs[layer])
            step += 1
            for w, g, m, v in zip(weights, grads, *moments):
                if isinstance(optimizer, Adam):
                    lr, b1, b2 = (keras_rounded(c, dtype) for c in (optimizer.learning_rate, optimizer.beta_1,
                                                                    optimizer.beta_2))
                    # ``**``: C's pow, as npnet and TensorFlow (the np.power ufunc's float32 loop is not correctly rounded)
                    alpha = lr * np.sqrt(1 - b2 ** dtype(step)) / (1 - b1 ** dtype(step))
                    m += (g - m) * dtype(1 - optimizer.beta_1)
                    v += (g * g - v) * dtype(1 - optimizer.beta_2)
                    w -= m * alpha / (np.sqrt(v) + dtype(optimizer.epsilon))
                else:
                    w -= g * keras_rounded(optimizer.learning_rate, dtype)
        loss, accuracy = loss_and_accuracy(np.concatenate(logits), ys)
        history["loss"].append(loss)
        history["accuracy"].append(accuracy)
        val_loss, val_accuracy = loss_and_accuracy(forward(x_val)[-1], y_val)
        history["val_loss"].append(val_loss)   # one batch: the mean over all its entries
        history["val_accuracy"].append(val_accuracy)
    return history, weights


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden, activation, optimizer, shuffle", [
    ((32, 16, 8), "relu", Adam, True),      # the tutorial's network and training
    ((12,), "tanh", Adam, False),
    ((9, 7), "sigmoid", lambda: SGD(0.5), True),
    ((5,), "linear", Adam, True),
    ((8, 6), "leaky_relu", Adam, True),
    ((8, 6), "elu", Adam, True),
])
def test_fit_is_bit_identical_to_the_textbook_loop(hidden, activation, optimizer, shuffle, dtype):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(537, 6)) * 3
    y = (rng.random((537, 3)) < 0.4).astype(float)
    npnet.utils.set_random_seed(3)
    model = npnet.Sequential([npnet.Input(shape=(6,))] + [Dense(u, activation=activation) for u in hidden]
                             + [Dense(3, activation="sigmoid")], dtype=dtype)
    model.compile(optimizer=optimizer(), loss="binary_crossentropy", metrics=["accuracy"])
    initial = model.get_weights()
    state = npnet.utils.random_generator().bit_generator.state
    epochs, batch_size, split_at = 4, 100, math.floor(537 * 0.8)
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, validation_split=0.2,
                        shuffle=shuffle).history

    generator = np.random.default_rng()
    generator.bit_generator.state = state           # replay fit's draws of the batch order
    orders = [generator.permutation(split_at) for _ in range(epochs)] if shuffle else None
    cast = [np.asarray(a, dtype=dtype) for a in (x, y)]
    expected, weights = textbook_fit(initial, [activation] * len(hidden) + ["sigmoid"],
                                     cast[0][:split_at], cast[1][:split_at], cast[0][split_at:],
                                     cast[1][split_at:], model.optimizer, epochs, batch_size, orders)
    assert history == expected
    for name, got, want in zip(["W", "b"] * len(weights), model.get_weights(), weights):
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_bias_trick_changes_only_rounding(dtype):
    """[x 1] @ [W; b] against x @ W + b, and their gradients, within the rounding of a sum.

    Each output is a sum of I + 1 terms (x_i W_ij and b_j); computed in any
    order it is within gamma_{I+1} times the sum of the absolute terms of the
    exact sum (tests/float_rounding.py), so two orders differ by at most twice
    that. The same holds for db and dW (N terms each) and dx (O terms). dW sums
    the same N products in both, but as part of an (I+1, N) @ (N, O) product
    instead of (I, N) @ (N, O): BLAS may block the two shapes differently (it
    does with OpenBLAS's Haswell kernel), so dW too is compared within rounding.
    """
    rng = np.random.default_rng(0)
    n, i, o = 250, 33, 16
    layer = Dense(o, activation="relu")
    layer.build(i, np.dtype(dtype).name)
    layer.b[...] = rng.normal(size=o)
    x = rng.normal(size=(n, i)).astype(dtype)
    dy = rng.normal(size=(n, o)).astype(dtype)

    plain = layer.forward(x, training=True, activate=False).copy()
    layer.backward(dy)
    plain_grads = layer.dW.copy(), layer.db.copy()
    plain_dx = layer.backward(dy).copy()
    folded = layer.forward(with_ones(x), training=True, activate=False).copy()
    folded_dx = layer.backward(dy)[:, :-1].copy()

    bound = 2 * gamma(i + 1, dtype) * (np.abs(x) @ np.abs(layer.W) + np.abs(layer.b))
    assert np.all(np.abs(folded - plain) <= bound)
    assert np.all(np.abs(layer.db - plain_grads[1]) <= 2 * gamma(n, dtype) * np.abs(dy).sum(axis=0))
    assert np.all(np.abs(layer.dW - plain_grads[0]) <= 2 * gamma(n, dtype) * (np.abs(x.T) @ np.abs(dy)))
    assert np.all(np.abs(folded_dx - plain_dx) <= 2 * gamma(o, dtype) * (np.abs(dy) @ np.abs(layer.W.T)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_major_products_change_only_rounding(dtype):
    """The column-major products (z^T = Wb^T x1^T, dx1^T = Wb dz^T) against the row-major ones.

    Each entry is the same dot product (I + 1 terms for z, O for dx), which BLAS
    may sum in another order for the other layout: within 2 gamma_n times the
    sum of the absolute terms (tests/float_rounding.py).
    """
    rng = np.random.default_rng(1)
    n, i, o = 250, 33, 16
    layer = Dense(o, activation="relu")
    layer.build(i, np.dtype(dtype).name)
    layer.b[...] = rng.normal(size=o)
    x1 = with_ones(rng.normal(size=(n, i)).astype(dtype))
    dy1 = rng.normal(size=(n, o + 1)).astype(dtype)

    row_major = layer.forward(x1, training=True, activate=False).copy()
    column_major = layer.forward(x1, training=True, activate=False, ones_column=True)
    assert column_major.flags.f_contiguous and row_major.flags.c_contiguous
    assert np.all(column_major[:, -1] == 1)
    bound = 2 * gamma(i + 1, dtype) * (np.abs(x1) @ np.abs(layer.Wb))
    assert np.all(np.abs(column_major[:, :-1] - row_major) <= bound)

    dx1 = layer.backward(dy1[:, :-1])                  # not activated: dz = dy
    assert dx1.flags.f_contiguous
    dz = dy1[:, :-1]
    plain = dz @ layer.Wb.T
    assert np.all(np.abs(dx1 - plain) <= 2 * gamma(o, dtype) * (np.abs(dz) @ np.abs(layer.Wb.T)))
