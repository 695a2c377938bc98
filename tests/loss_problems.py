"""What the tests of the heads' losses share: the problem, both sides' loss and gradient, and bounds in eps
of the dtype (assert_eps). Where each bound comes from: tests/parity/test_head_losses.py.
"""
from __future__ import annotations

import numpy as np

from npnet import activations


N, K = 32, 5


DTYPES = [np.float32, np.float64]


def assert_eps(ours, theirs, bound: float, dtype) -> float:
    """max |ours - theirs| <= bound * eps(dtype) * max |theirs|; returns the measured value in those units."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    unit = np.finfo(dtype).eps * max(float(np.max(np.abs(theirs))), np.finfo(dtype).tiny)
    measured = float(np.max(np.abs(ours - theirs)) / unit)
    assert measured <= bound, f"{measured:.2f} eps > {bound} eps"
    return measured


def problem(dtype, seed=0):
    """Logits (N, K) spread over +-8, their softmax, class ids, one-hot rows, soft rows, sample weights."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-8, 8, size=(N, K)).astype(dtype)
    ids = rng.integers(0, K, N)
    soft = rng.dirichlet(np.ones(K), N).astype(dtype)
    return {"z": z, "p": activations.softmax(z), "ids": ids, "one_hot": np.eye(K, dtype=dtype)[ids],
            "soft": soft, "weights": rng.uniform(0, 2, N).astype(dtype),
            "targets": rng.normal(size=(N, 3)).astype(dtype), "predictions": rng.normal(size=(N, 3)).astype(dtype)}


def keras_loss_and_gradient(keras, loss, y_true, y_pred, sample_weight):
    import tensorflow as tf
    variable = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = loss(y_true, variable, sample_weight=sample_weight)
    return float(value), tape.gradient(value, variable).numpy()


def ours_loss_and_gradient(loss, y_true, y_pred, sample_weight):
    return loss.forward(y_true, y_pred, sample_weight), loss.backward().copy()
