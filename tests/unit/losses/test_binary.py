"""npnet.losses.binary: binary crossentropy's backward, its fused form and clipping."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import activations, gradcheck
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy, binary_crossentropy

from finite_differences import TOLERANCE


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy_backward_matches_finite_differences(from_logits, rng):
    y_true = rng.random((8, 3))                       # soft labels exercise both terms of the loss
    y_pred = rng.normal(0, 3, (8, 3)) if from_logits else rng.uniform(0.05, 0.95, (8, 3))
    gradcheck.check_loss(BinaryCrossentropy(from_logits=from_logits), y_true, y_pred).assert_passed(TOLERANCE)


def test_sigmoid_then_probability_bce_equals_the_logits_shortcut(rng):
    """Chain rule through sigmoid and the clipped-probability loss gives (p - y) / (N*K) at the logits.

    This is the identity the fused sigmoid + BCE path relies on (docs/backprop.md#sigmoid-and-binary-crossentropy).
    """
    z, y = rng.normal(0, 2, (6, 3)), rng.random((6, 3))
    p = activations.sigmoid(z)
    on_probabilities, on_logits = BinaryCrossentropy(), BinaryCrossentropy(from_logits=True)
    assert on_probabilities.forward(y, p) == pytest.approx(on_logits.forward(y, z), rel=1e-12)
    dz_chain = activations.sigmoid.backward(p, on_probabilities.backward(), out=np.empty_like(z))
    np.testing.assert_allclose(dz_chain, on_logits.backward(), rtol=1e-10)
    np.testing.assert_allclose(on_logits.backward(), (p - y) / y.size, rtol=1e-12)


def test_fused_loss_stays_finite_where_probabilities_saturate(float64):
    """Logits of +-40 saturate sigmoid to 0/1 in float64; the fused loss still sees the true margin."""
    model = npnet.Sequential([npnet.Input(shape=(1,)), Dense(1, activation="sigmoid", use_bias=False)])
    model.compile(loss="binary_crossentropy")
    model.set_weights([np.array([[40.0]])])
    loss, (dW,) = model.loss_and_gradients(np.array([[1.0]]), np.array([[0.0]]))
    assert loss == pytest.approx(40.0, rel=1e-12)       # log(1 + e^40) = 40 + 4e-18
    assert dW[0, 0] == pytest.approx(1.0, rel=1e-12)    # (sigmoid(40) - 0) * x
    # The clipped-probability form would report -log(1e-7) = 16.1 and a zero gradient here.


# == The function's clipping =========================================================================

def test_binary_crossentropy_function_clips_probabilities_like_keras():
    y = np.array([[1.0, 0.0]])
    per_sample = binary_crossentropy(y, np.array([[0.0, 1.0]]))
    assert per_sample.shape == (1,)
    assert per_sample[0] == pytest.approx(-np.log(1e-7), rel=1e-5)   # clip to [1e-7, 1 - 1e-7], then log
    p = np.array([[0.8, 0.3]])
    assert binary_crossentropy(y, p)[0] == pytest.approx(-(np.log(0.8) + np.log(0.7)) / 2, rel=1e-6)
    assert BinaryCrossentropy()(np.vstack([y, y]), np.vstack([p, p])) == pytest.approx(
        binary_crossentropy(y, p)[0], rel=1e-6)
    z = np.log(p / (1 - p))
    assert binary_crossentropy(y, z, from_logits=True)[0] == pytest.approx(binary_crossentropy(y, p)[0], rel=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_fused_value_in_blocks_into_a_given_array_has_the_bits_of_one_pass_over_all_rows(weighted, smoothing,
                                                                                         monkeypatch):
    from npnet.losses.binary import SigmoidBinaryCrossentropy, _bce_elementwise, _reduce, smooth_binary_labels
    rng = np.random.default_rng(4)
    z = rng.normal(scale=4.0, size=(1000, 7)).astype(np.float32)
    y = (rng.random((1000, 7)) < 0.4).astype(np.float32)
    w = rng.random(1000).astype(np.float32) if weighted else None
    expected_entries = _bce_elementwise(smooth_binary_labels(y, smoothing), z, from_logits=True)
    expected = _reduce(expected_entries, w)   # one pass over all N K entries: the textbook's order
    loss = SigmoidBinaryCrossentropy(label_smoothing=smoothing)
    monkeypatch.setattr(SigmoidBinaryCrossentropy, "VALUE_BLOCK", 7 * 96)   # 96 rows a block: 10 full + 1 of 40
    losses = np.full_like(z, np.nan)
    assert loss.value(y, z, w, losses=losses) == expected
    np.testing.assert_array_equal(losses, expected_entries)      # each entry's loss, in the array handed over
    assert loss.value(y, z, w) == expected == loss.forward(y, z, w)   # its own work array, and forward's
