"""The trace reads right: a masked gradient prints as 0, a small one keeps its digits; its picture is a PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import npnet
from npnet import cli, trace_plot
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


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_trace_png_draws_the_step(sklearn, tmp_path, capsys):
    path = tmp_path / "step.png"
    assert cli.main(["trace", "--batch-size", "20", "--png", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    width, height = png_size(path)
    assert width > 1000 and height > 400


def test_trace_png_with_compare_keras_colors_by_the_difference(keras, sklearn, tmp_path, capsys):
    path = tmp_path / "step.png"
    assert cli.main(["trace", "--batch-size", "20", "--compare-keras", "--png", str(path)]) == 0
    assert "35 arrays compared" in capsys.readouterr().out
    assert png_size(path)[0] > 1000


def test_trace_png_refuses_what_it_cannot_draw(tmp_path, capsys):
    trace = relu_model_trace()
    with pytest.raises(TypeError, match="trace must be an npnet.trace.StepTrace"):
        trace_plot.plot_trace(str(trace), tmp_path / "a.png")
    with pytest.raises(ValueError, match="must end with '.png'"):
        trace_plot.plot_trace(trace, tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="differences must be numbers >= 0"):
        trace_plot.plot_trace(trace, tmp_path / "a.png", {"dense/dW": float("nan")})
    assert not list(tmp_path.iterdir())
    with pytest.raises(SystemExit):
        cli.main(["trace", "--png", "step.svg"])
    assert "must end with .png" in capsys.readouterr().err


def test_a_dropout_mask_is_traced_and_keras_applies_the_same_one(keras):
    from npnet.layers import Dropout
    from npnet.testing import compare_trace_with_keras

    npnet.backend.set_floatx("float64")
    try:
        npnet.utils.set_random_seed(0)
        model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(6, activation="relu"), Dropout(0.5, seed=1),
                                  Dense(2, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
    finally:
        npnet.backend.set_floatx("float32")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), (rng.random((16, 2)) > 0.5).astype(float)
    trace = model.trace(x, y)
    mask = trace.layers[1].arrays["mask"]
    assert set(np.unique(mask)) == {0.0, 2.0}                     # kept units scaled by 1 / (1 - rate)
    np.testing.assert_array_equal(trace.layers[1].arrays["y"], trace.layers[1].arrays["x"] * mask)
    assert "    mask       (16, 6)" in str(trace)
    differences = compare_trace_with_keras(trace)
    # float64: the same mask on both sides; sums of at most 16 terms of size <= 10 differ by < 16 u 10 = 2e-14
    assert len(differences) == 20 and max(differences.values()) < 1e-13, differences
