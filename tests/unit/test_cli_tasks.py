"""`npnet train/evaluate/predict` on multiclass and regression targets: the task inferred or given (npnet.targets)."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from npnet import cli, datasets, targets

NAMES = np.array(["cat", "dog", "owl"])


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path, x, columns: dict) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"f{i}" for i in range(x.shape[1])] + list(columns))
        for row, *labels in zip(x.tolist(), *columns.values()):
            writer.writerow(row + list(labels))
    return str(path)


@pytest.fixture
def classes_csv(tmp_path):
    """300 rows, 4 features, a text column of three separable classes."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 3, 300)
    x = rng.normal(size=(300, 4)) + 3 * np.eye(3, 4)[ids]
    return write_csv(tmp_path / "animals.csv", x, {"animal": NAMES[ids]}), ids, x


@pytest.fixture
def values_csv(tmp_path):
    """300 rows, 3 features, a real target and an integer count (10-200)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    value = x @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.normal(size=300)
    return write_csv(tmp_path / "values.csv", x, {"value": value, "count": rng.integers(10, 200, 300)})


def test_a_column_of_class_names_trains_a_softmax_and_reports_per_class(sklearn, capsys, classes_csv, tmp_path):
    path, _, _ = classes_csv
    code, out, _ = run(capsys, "train", "--data", path, "--labels", "animal", "--epochs", 30, "--verbose", 0,
                       "--output", tmp_path / "m.npz", "--plot-labels", tmp_path / "cm.png")
    assert code == 0
    assert "multiclass: 3 classes" in out and "Test accuracy:" in out
    assert all(name in out for name in NAMES) and "macro avg" in out   # scikit-learn's per-class report
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "confusion matrix:" in out
    code, out, _ = run(capsys, "evaluate", tmp_path / "m.npz", "--data", path)
    accuracy = float(out.split("accuracy: ")[1].split()[0])
    assert code == 0 and accuracy > 0.9   # separable classes; measured 0.97
    code, out, _ = run(capsys, "predict", tmp_path / "m.npz", "--data", path)
    lines = out.splitlines()
    assert lines[0] == "class" and set(lines[1:]) <= set(NAMES) and len(lines) == 301
    code, out, _ = run(capsys, "predict", tmp_path / "m.npz", "--data", path, "--proba")
    header, first = out.splitlines()[:2]
    assert header == "cat,dog,owl" and abs(sum(map(float, first.split(","))) - 1) < 1e-6


def test_integer_class_ids_are_multiclass_and_other_integers_need_a_task(capsys, classes_csv, values_csv, tmp_path):
    _, ids, x = classes_csv
    path = write_csv(tmp_path / "ids.csv", x, {"id": ids})
    code, out, _ = run(capsys, "train", "--data", path, "--labels", "id", "--epochs", 2, "--verbose", 0)
    assert code == 0 and "multiclass: 3 classes" in out
    code, _, err = run(capsys, "train", "--data", values_csv, "--labels", "count", "--epochs", 1, "--verbose", 0)
    assert code == 2 and "--task regression" in err and "--task multiclass" in err


def test_regression_reports_mae_rmse_r2_and_predicts_values(sklearn, capsys, values_csv, tmp_path):
    code, out, _ = run(capsys, "train", "--data", values_csv, "--labels", "value", "--task", "regression",
                       "--epochs", 40, "--verbose", 0, "--output", tmp_path / "r.npz",
                       "--plot-labels", tmp_path / "pv.png")
    assert code == 0 and "regression: 1 target" in out and "Test mae:" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("target "))
    assert lines[header].split() == ["target", "MAE", "RMSE", "R2"]
    assert lines[header + 1].split()[0] == "value" and float(lines[header + 1].split()[-1]) > 0.9   # measured 0.99
    assert (tmp_path / "pv.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run(capsys, "evaluate", tmp_path / "r.npz", "--data", values_csv)
    assert code == 0 and out.startswith("loss: ") and "mae: " in out
    code, out, _ = run(capsys, "predict", tmp_path / "r.npz", "--data", values_csv, "--labels", "count")
    lines = out.splitlines()
    assert lines[0] == "value" and len(lines) == 301 and np.isfinite([float(v) for v in lines[1:]]).all()


@pytest.mark.parametrize("argv, message", [
    (["--labels", "animal", "--task", "regression"], "text labels are class names"),
    (["--labels", "animal", "--task", "multilabel"], "text labels are class names"),
    (["--labels", "f0,animal", "--task", "multiclass"], "one column of class names or ids"),
])
def test_a_task_the_labels_cannot_be_is_refused(capsys, classes_csv, argv, message):
    path, _, _ = classes_csv
    code, _, err = run(capsys, "train", "--data", path, *argv, "--epochs", 1, "--verbose", 0)
    assert code == 2 and message in err


def test_evaluate_refuses_classes_the_model_never_saw(capsys, classes_csv, tmp_path):
    path, ids, x = classes_csv
    assert run(capsys, "train", "--data", path, "--labels", "animal", "--epochs", 1, "--verbose", 0,
               "--output", tmp_path / "m.npz")[0] == 0
    other = write_csv(tmp_path / "other.csv", x, {"animal": np.where(ids == 0, "fox", NAMES[ids])})
    code, _, err = run(capsys, "evaluate", tmp_path / "m.npz", "--data", other)
    assert code == 2 and "classes ['fox'] were not in the training data" in err


def test_the_tutorial_data_stay_multilabel(capsys):
    code, _, err = run(capsys, "train", "--task", "regression", "--epochs", 1, "--verbose", 0)
    assert code == 2 and "--task regression needs --data" in err


def test_infer_reads_the_task_from_the_values():
    assert targets.infer(np.array([["a"], ["b"]]), ["c"], "auto", "f").task == "multiclass"
    assert targets.infer(np.array([[0.0], [2.0], [1.0]]), ["c"], "auto", "f").task == "multiclass"
    assert targets.infer(np.array([[0.0], [1.0]]), ["c"], "auto", "f").task == "multilabel"
    assert targets.infer(np.array([[0.2, 1.0], [0.0, 0.5]]), ["a", "b"], "auto", "f").task == "multilabel"
    with pytest.raises(datasets.DataError, match="--task regression"):
        targets.infer(np.array([[0.5], [2.5]]), ["c"], "auto", "f")
    encoded = targets.infer(np.array([["b"], ["a"], ["b"]]), ["c"], "auto", "f")
    assert encoded.names == ["a", "b"] and encoded.y.tolist() == [1, 0, 1] and encoded.column == "c"
