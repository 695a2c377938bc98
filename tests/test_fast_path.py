"""The optimised training step is the textbook algorithm, to the last bit.

``Sequential.fit`` runs in place, on one flat buffer, with reused work arrays
and fused steps. Here the same training is written the plain way: fresh
arrays for every intermediate, a Python list of weights, the formulas of
docs/backprop.md one per line. Both must give bit-identical histories and
weights, so no speed-up can change a number.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import npnet
from npnet.layers import Dense
from npnet.optimizers import SGD, Adam, keras_rounded

DERIVATIVE_FROM_OUTPUT = {                      # f'(z) written in terms of y = f(z)
    "relu": lambda y: (y > 0).astype(y.dtype),
    "tanh": lambda y: 1 - y * y,
    "sigmoid": lambda y: (1 - y) * y,
    "linear": lambda y: np.ones_like(y),
}
FUNCTION = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "linear": lambda z: z,
            "sigmoid": lambda z: 1 / (1 + np.exp(-z))}


def sigmoid(z):
    return np.reciprocal(np.exp(-z) + 1)


def textbook_fit(weights, activations, x, y, x_val, y_val, optimizer, epochs, batch_size, orders):
    """Mini-batch training of a sigmoid-output network with BCE from the logits, allocating freely."""
    weights = [w.copy() for w in weights]
    dtype = weights[0].dtype.type
    moments = [np.zeros_like(w) for w in weights], [np.zeros_like(w) for w in weights]
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    step = 0

    def forward(xb):
        outputs = [xb]
        for layer, activation in enumerate(activations):
            z = outputs[-1] @ weights[2 * layer] + weights[2 * layer + 1]
            outputs.append(z if layer == len(activations) - 1 else FUNCTION[activation](z))
        return outputs                                   # the last entry is the logits

    def loss_and_accuracy(z, yb):
        loss = np.maximum(z, 0) - z * yb + np.log1p(np.exp(-np.abs(z)))
        correct = np.count_nonzero((sigmoid(z) > 0.5) == yb)
        return float(np.add.reduce(loss, axis=None) / loss.size), correct

    for epoch in range(epochs):
        xs, ys = (x[orders[epoch]], y[orders[epoch]]) if orders is not None else (x, y)
        loss_sum, correct = 0.0, 0
        for start in range(0, len(xs), batch_size):
            xb, yb = xs[start:start + batch_size], ys[start:start + batch_size]
            outputs = forward(xb)
            loss, right = loss_and_accuracy(outputs[-1], yb)
            loss_sum, correct = loss_sum + len(xb) * loss, correct + right
            grads = [None] * len(weights)
            dz = (sigmoid(outputs[-1]) - yb) * dtype(1.0 / yb.size)      # dL/dz at the logits
            for layer in reversed(range(len(activations))):
                grads[2 * layer] = outputs[layer].T @ dz                # dW = x^T dz
                grads[2 * layer + 1] = np.ones(len(dz), dtype) @ dz     # db = dz^T 1, the sum over the batch
                if layer:
                    dx = dz @ weights[2 * layer].T                      # dx = dz W^T
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
        history["loss"].append(loss_sum / len(xs))
        history["accuracy"].append(correct / y.size)
        val_loss_sum, val_correct = 0.0, 0
        for start in range(0, len(x_val), batch_size):
            xb, yb = x_val[start:start + batch_size], y_val[start:start + batch_size]
            loss, right = loss_and_accuracy(forward(xb)[-1], yb)
            val_loss_sum, val_correct = val_loss_sum + len(xb) * loss, val_correct + right
        history["val_loss"].append(val_loss_sum / len(x_val))
        history["val_accuracy"].append(val_correct / y_val.size)
    return history, weights


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden, activation, optimizer, shuffle", [
    ((32, 16, 8), "relu", Adam, True),      # the tutorial's network and training
    ((12,), "tanh", Adam, False),
    ((9, 7), "sigmoid", lambda: SGD(0.5), True),
    ((5,), "linear", Adam, True),
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
