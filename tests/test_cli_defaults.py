"""`npnet train`'s defaults on data it has never seen: the README's three scikit-learn data sets, run as printed.

Each command in the README's "Defaults that work on the first try" block is
run with its data written by examples/sklearn_data.py, and the model it
saves must beat two trivial baselines computed from the same test split:
- binary accuracy above the per-label majority class (learned from the
  training split) by three binomial standard errors of that baseline,
  sqrt(b (1 - b) / (N K)) over the N x K test cells (about 99.9% one-sided if
  the cells were independent: beating it is not luck);
- micro-averaged F1 (2 TP / (predicted positives + true positives)) that
  closes at least a quarter of the gap between the best constant predictor's
  F1 and a perfect 1. That predictor says all ones: 2 P / (N K + P) for P
  positive cells (all zeros scores 0). On rare labels accuracy alone rewards
  predicting nothing, which F1 does not.
"""
from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path

import numpy as np
import pytest

from npnet import cli, datasets
from npnet.models import load_model

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = re.findall(r"^\$ npnet (train --data data/.*)$", (ROOT / "README.md").read_text(), flags=re.M)


def test_the_readme_shows_one_command_per_data_set():
    assert [shlex.split(command)[2] for command in COMMANDS] == ["data/breast_cancer.csv", "data/digits.csv",
                                                                 "data/multilabel.csv"]


@pytest.fixture(scope="module")
def data_directory(tmp_path_factory, sklearn):
    directory = tmp_path_factory.mktemp("data")
    runpy.run_path(str(ROOT / "examples" / "sklearn_data.py"))["main"](str(directory))
    return directory


def micro_f1(y: np.ndarray, predicted: np.ndarray) -> float:
    true_positives = np.count_nonzero(predicted & (y == 1))
    return 2 * true_positives / (np.count_nonzero(predicted) + np.count_nonzero(y))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: shlex.split(command)[2])
def test_readme_command_beats_the_trivial_baselines(command, data_directory, tmp_path, capsys):
    argv = [arg.replace("data/", f"{data_directory}/", 1) for arg in shlex.split(command)]
    model_path = tmp_path / "model.npz"
    assert cli.main([*argv, "--output", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "batches of 32" in out and "standardized features" in out   # the defaults for a data file
    labels = _option(argv, "--labels")
    table = datasets.load_table(argv[2], labels=labels and labels.split(","),
                                label_prefix=_option(argv, "--label-prefix"))
    x_train, x_test, y_train, y_test = datasets.split(table.x, table.y, 0.33, seed=42)   # train's defaults
    with np.load(model_path) as arrays:
        x_test = (x_test - arrays["feature_mean"]) / arrays["feature_scale"]
    predicted = load_model(model_path).predict(x_test, verbose=0) > 0.5                  # (N, K)

    majority = y_train.mean(axis=0) > 0.5                                                 # (K,)
    baseline = np.mean(y_test == majority)
    margin = 3 * np.sqrt(baseline * (1 - baseline) / y_test.size)
    accuracy = np.mean(predicted == (y_test == 1))
    assert accuracy == pytest.approx(float(re.search(r"Test accuracy: (\S+)", out).group(1)), abs=1e-12)
    assert accuracy > baseline + margin, (accuracy, baseline, margin)

    positives = np.count_nonzero(y_test)
    constant_f1 = 2 * positives / (y_test.size + positives)
    assert micro_f1(y_test, predicted) >= constant_f1 + (1 - constant_f1) / 4, (micro_f1(y_test, predicted),
                                                                                  constant_f1)


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None
