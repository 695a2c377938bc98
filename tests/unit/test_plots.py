"""npnet.plots: PNG files from a History and from per-label scores, without global matplotlib state."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npnet import plots
from npnet.callbacks import History

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CURVES = {"loss": [0.7, 0.5, 0.4], "accuracy": [0.6, 0.7, 0.8],
          "val_loss": [0.72, 0.55, 0.45], "val_accuracy": [0.55, 0.68, 0.75]}


def assert_png(path: Path) -> None:
    content = path.read_bytes()
    assert content.startswith(PNG_SIGNATURE) and len(content) > 1000


def test_plot_history_accepts_a_history_or_its_dict(tmp_path):
    history = History()
    history.history = dict(CURVES)
    plots.plot_history(history, tmp_path / "a.png")
    plots.plot_history(CURVES, tmp_path / "b.png")
    plots.plot_history({"loss": [0.5, 0.4]}, tmp_path / "c.png")   # no metric, no validation
    for name in ("a.png", "b.png", "c.png"):
        assert_png(tmp_path / name)


def test_plot_label_metrics_accepts_a_dict_or_a_three_row_array(tmp_path):
    plots.plot_label_metrics({"precision": [0.9, 0.5], "recall": [0.8, 0.4], "F1": [0.85, 0.44]},
                             ["a", "b"], tmp_path / "a.png")
    plots.plot_label_metrics(np.array([[0.9, 0.5, 1.0], [0.8, 0.4, 0.0], [0.85, 0.44, 0.0]]), ["a", "b", "c"],
                             tmp_path / "b.png")
    assert_png(tmp_path / "a.png")
    assert_png(tmp_path / "b.png")


@pytest.mark.parametrize("call, message", [
    (lambda p: plots.plot_history({"accuracy": [0.5]}, p), "non-empty 'loss'"),
    (lambda p: plots.plot_history({"loss": [0.5, np.nan]}, p), "non-finite"),
    (lambda p: plots.plot_history(CURVES, p.with_suffix(".jpg")), "must end with '.png'"),
    (lambda p: plots.plot_label_metrics(np.ones((2, 3)), ["a", "b", "c"], p), "must have 3 rows"),
    (lambda p: plots.plot_label_metrics({"F1": [0.5, 0.5]}, ["a"], p), "label_names has 1"),
    (lambda p: plots.plot_label_metrics({"F1": [0.5, 1.5]}, ["a", "b"], p), "must lie in [0, 1]"),
    (lambda p: plots.plot_label_metrics({"F1": [0.5], "recall": [0.5, 0.4]}, ["a"], p), "rectangular"),
])
def test_bad_arguments_are_refused_before_any_file_is_written(tmp_path, call, message):
    path = tmp_path / "out.png"
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        call(path)
    assert not path.exists()


def test_plotting_touches_no_pyplot_state(tmp_path):
    code = ("import sys, npnet.plots as p; p.plot_history({'loss': [1.0, 0.5]}, sys.argv[1]); "
            "import matplotlib; print('matplotlib.pyplot' in sys.modules, matplotlib.rcParams['backend'])")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.png")], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, env={**os.environ, "MPLBACKEND": "svg"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "svg"]
