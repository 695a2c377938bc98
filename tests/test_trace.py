"""The printed trace reads right: a masked gradient entry is 0, a small one keeps its digits."""
from __future__ import annotations

import numpy as np

import npnet
from npnet.layers import Dense


def relu_model_trace():
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(6, activation="relu"), Dense(2, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    return model.trace(x, (rng.random((16, 2)) > 0.5).astype(np.float32))


def test_a_masked_relu_gradient_prints_as_0_not_minus_0():
    trace = relu_model_trace()
    dz = trace.layers[0].arrays["dz"]
    masked_negative = np.signbit(dz) & (dz == 0)     # 0 * (negative dy): the -0.0 the mask leaves
    assert masked_negative.reshape(-1)[:4].any(), "the first printed values must include a masked negative dy"
    line = next(line for line in str(trace).splitlines() if line.strip().startswith("dz") and "(16, 6)" in line)
    printed = line.split("[")[1].split(" ...]")[0].split()
    assert "-0" not in printed and "-0." not in printed
    assert printed == ["0" if value == 0 else f"{value:.4g}" for value in dz.reshape(-1)[:4]]


def test_a_small_gradient_keeps_its_digits():
    line = npnet.trace._describe("dy", np.array([[-6.7446e-05, 0.0, -0.0, 3e-9]]))
    assert "[-6.745e-05 0 0 3e-09 ...]" in line
