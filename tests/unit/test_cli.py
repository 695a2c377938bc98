"""The ``npnet`` command line: train, evaluate, predict, their errors and their help, run in-process."""
from __future__ import annotations

import csv
import importlib.util
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npnet import cli, datasets, tutorial, utils
from npnet.models import load_model
from npnet.preprocessing import Standardization

from float_rounding import forward_error_bound


ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST = ["--epochs", "3", "--batch-size", "32", "--verbose", "0"]
# Predictions and scores are compared bit for bit only in the same batches: BLAS may round a row's
# products differently in a batch of 32 and of 120, depending on the CPU (tests/float_rounding.py).
SAME_BATCH = 250


def write_csv(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, np.array(rows, dtype=np.float64)


@pytest.fixture
def dataset(rng):
    """120 samples, 4 features, 2 labels that depend on the features (learnable)."""
    x = rng.normal(size=(120, 4)).round(4)
    y = np.stack([x[:, 0] + x[:, 1] > 0, x[:, 2] > 0.3], axis=1).astype(int)
    return x, y


@pytest.fixture
def data_csv(tmp_path, dataset):
    x, y = dataset
    return write_csv(tmp_path / "data.csv", ["f0", "f1", "f2", "f3", "spam", "ham"], np.hstack([x, y]).tolist())


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def lines_starting(out: str, prefix: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith(prefix)]


# -- train -----------------------------------------------------------------------------------------

def test_train_defaults_are_the_tutorials_settings():
    args = cli.build_parser().parse_args(["train"])
    assert (args.n_samples, args.n_features, args.n_classes, args.n_labels) == (10000, 6, 3, 2)
    assert (args.test_size, args.data_seed, args.seed, args.validation_split) == (0.33, 42, 42, 0.2)
    assert (args.activation, args.optimizer, args.lr) == ("relu", "adam", None)
    assert cli.training_settings(args, n_train=6700, n_labels=3) == ((32, 16, 8), 250, 50, False)


@pytest.mark.parametrize("n_train, n_labels, expected", [
    # 381 rows (breast cancer's training split): 305 fitted after validation_split 0.2 -> 10 steps an epoch
    (381, 1, ((64, 32), 32, 200, True)),
    (1204, 10, ((64, 32), 32, 65, True)),          # 964 rows fitted -> 31 steps -> ceil(2000 / 31) = 65 epochs
    (2680, 25, ((64, 32), 32, 30, True)),          # 2144 -> 67 steps -> 30 epochs
    (100, 40, ((80, 40), 32, 667, True)),          # 80 -> 3 steps; 40 labels widen the hidden layers
    (400_000, 5, ((64, 32), 32, 1, True)),         # 10,000 steps in the single epoch
])
def test_train_defaults_on_a_data_file_follow_the_documented_rule(n_train, n_labels, expected):
    args = cli.build_parser().parse_args(["train", "--data", "d.csv"])
    assert cli.training_settings(args, n_train, n_labels) == expected


def test_explicit_flags_override_every_default():
    for data in ([], ["--data", "d.csv"]):
        args = cli.build_parser().parse_args(["train", *data, "--hidden", "9", "--batch-size", "7", "--epochs", "3",
                                              "--no-standardize" if data else "--standardize"])
        assert cli.training_settings(args, 1000, 3) == ((9,), 7, 3, not data)
    args = cli.build_parser().parse_args(["train", "--data", "d.csv", "--batch-size", "100"])
    assert cli.training_settings(args, 1000, 3).epochs == 250   # 800 fitted rows / 100 = 8 steps an epoch


def test_train_on_tutorial_data_reproduces_the_demo(sklearn, capsys, tmp_path):
    code, demo_out, _ = run(capsys, "demo", "--epochs", "2", "--verbose", "0")
    assert code == 0
    code, train_out, _ = run(capsys, "train", "--epochs", "2", "--verbose", "0", "--output", tmp_path / "m.npz")
    assert code == 0
    pattern = r"Test loss: (\S+) / Test accuracy: (\S+)"
    demo_loss, demo_accuracy = map(float, re.search(pattern, demo_out).groups())
    loss, accuracy = map(float, re.search(pattern, train_out).groups())
    # The same model, evaluated in batches of 250 here and of 32 in the demo: BLAS may round each
    # logit differently, so only decisions whose logit lies within its rounding bound of 0 may flip.
    x_test = tutorial.tutorial_data().x_test
    z, z_error, _ = forward_error_bound(load_model(tmp_path / "m.npz"), x_test, logits=True)
    assert abs(accuracy - demo_accuracy) <= np.count_nonzero(np.abs(z) <= 2 * z_error) / z.size
    assert loss == pytest.approx(demo_loss, rel=1e-6)
    assert "on 6700 samples (6 features, 3 labels)" in train_out
    assert len(lines_starting(train_out, "label_")) == 3


def test_train_varies_the_tutorial_data_with_its_flags(sklearn, capsys):
    code, out, _ = run(capsys, "train", "--n-samples", "300", "--n-features", "4", "--n-classes", "5",
                       "--test-size", "0.2", *FAST)
    assert code == 0
    assert "on 240 samples (4 features, 5 labels)" in out and len(lines_starting(out, "label_")) == 5


def test_train_on_csv_reports_each_named_label(capsys, data_csv):
    code, out, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", *FAST)
    assert code == 0, err
    assert "(4 features, 2 labels)" in out
    assert [line.split()[0] for line in lines_starting(out, "spam ") + lines_starting(out, "ham ")] == ["spam", "ham"]
    support = int(lines_starting(out, "spam")[0].split()[4])   # precision recall f1 support roc-auc
    assert 0 < support <= 40   # ceil(120 * 0.33) = 40 test samples


def test_train_label_prefix_takes_every_column_starting_with_it(capsys, tmp_path, dataset):
    x, y = dataset
    path = write_csv(tmp_path / "p.csv", ["a", "b", "c", "d", "y_one", "y_two"], np.hstack([x, y]).tolist())
    code, out, _ = run(capsys, "train", "--data", path, "--label-prefix", "y_", *FAST)
    assert code == 0 and "(4 features, 2 labels)" in out
    assert lines_starting(out, "y_one") and lines_starting(out, "y_two")


def test_train_on_npz_uses_its_label_names(capsys, tmp_path, dataset):
    x, y = dataset
    path = tmp_path / "data.npz"
    np.savez(path, x=x, y=y, label_names=np.array(["up", "down"]))
    code, out, _ = run(capsys, "train", "--data", path, *FAST)
    assert code == 0 and "(4 features, 2 labels)" in out
    assert lines_starting(out, "up") and lines_starting(out, "down")


def test_train_builds_the_requested_network(capsys, data_csv, tmp_path):
    model_path = tmp_path / "m.npz"
    code, _, _ = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--hidden", "7,5",
                     "--activation", "tanh", "--optimizer", "sgd", "--lr", "0.05", "--output", model_path, *FAST)
    assert code == 0
    model = load_model(model_path)
    assert [(layer.units, layer.activation.name) for layer in model.layers] == [(7, "tanh"), (5, "tanh"),
                                                                               (2, "sigmoid")]
    assert model.optimizer.get_config() == {"name": "sgd", "learning_rate": 0.05, "momentum": 0.0,
                                            "nesterov": False, "weight_decay": None, "clipnorm": None,
                                            "global_clipnorm": None, "clipvalue": None}


def test_train_adds_dropout_batchnorm_and_an_l2_penalty_on_request(capsys, data_csv, tmp_path):
    model_path = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--hidden", "6",
                         "--dropout", "0.25", "--batchnorm", "--l2", "0.01", "--output", model_path, *FAST)
    assert code == 0, err
    model = load_model(model_path)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "BatchNormalization", "Activation",
                                                               "Dropout", "Dense"]
    hidden, output = model.layers[0], model.layers[-1]
    assert not hidden.use_bias and model.layers[3].rate == 0.25
    assert hidden.kernel_regularizer.get_config() == output.kernel_regularizer.get_config() == {"l2": 0.01}
    assert not np.array_equal(model.layers[1].moving_mean, 0)     # the moving statistics were trained and saved
    # The defaults leave the tutorial's model as it was: no penalty, no extra layer.
    default = cli.build_model(4, 2)
    assert [type(layer).__name__ for layer in default.layers] == ["Dense"] * 4
    assert all(layer.kernel_regularizer is None for layer in default.layers)


def test_train_is_repeatable_under_the_same_seeds(capsys, data_csv):
    outputs = [run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--seed", "3", *FAST)[1]
               for _ in range(2)]
    assert lines_starting(outputs[0], "Test loss") == lines_starting(outputs[1], "Test loss")


# -- save, evaluate, predict -------------------------------------------------------------------------

@pytest.fixture
def trained(capsys, data_csv, tmp_path):
    model_path = tmp_path / "model.npz"
    code, _, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--output", model_path, *FAST)
    assert code == 0, err
    return model_path


def test_evaluate_prints_the_loaded_models_scores(capsys, trained, data_csv, dataset):
    x, y = dataset
    code, out, _ = run(capsys, "evaluate", trained, "--data", data_csv, "--batch-size", SAME_BATCH)   # labels as stored
    assert code == 0
    mean, scale = stored_standardization(trained)
    loss, accuracy = load_model(trained).evaluate((x - mean) / scale, y, batch_size=SAME_BATCH, verbose=0)
    assert out.splitlines()[0] == f"loss: {loss} / accuracy: {accuracy}"
    assert lines_starting(out, "spam") and lines_starting(out, "ham")


def stored_standardization(model_path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(model_path) as arrays:
        return arrays["feature_mean"], arrays["feature_scale"]


def model_probabilities(model_path: Path, x: np.ndarray, batch_size: int) -> np.ndarray:
    """What the saved model predicts for raw features x, standardized as the file says (read without npnet.cli)."""
    mean, scale = stored_standardization(model_path)
    return load_model(model_path).predict((x - mean) / scale, batch_size=batch_size, verbose=0)


def test_train_stores_the_training_splits_mean_and_standard_deviation(trained, dataset):
    from npnet.datasets import split
    x, y = dataset
    x_train = split(x, y, 0.33, seed=42)[0]   # the CLI's default --test-size and --data-seed
    mean, scale = stored_standardization(trained)
    np.testing.assert_array_equal(mean, x_train.mean(axis=0))
    np.testing.assert_array_equal(scale, x_train.std(axis=0))


def test_predict_round_trip_equals_load_model_predict(capsys, trained, data_csv, dataset, tmp_path):
    x, _ = dataset
    expected = model_probabilities(trained, x, batch_size=SAME_BATCH)
    code, _, _ = run(capsys, "predict", trained, "--data", data_csv, "--proba", "--output", tmp_path / "p.csv",
                     "--batch-size", SAME_BATCH)
    assert code == 0
    header, probabilities = read_csv(tmp_path / "p.csv")
    assert header == ["spam", "ham"]
    np.testing.assert_array_equal(probabilities.astype(np.float32), expected)   # %.9g round-trips float32
    code, out, _ = run(capsys, "predict", trained, "--data", data_csv, "--threshold", "0.7",
                       "--batch-size", SAME_BATCH)
    rows = [line.split(",") for line in out.splitlines()]
    assert rows[0] == ["spam", "ham"]
    np.testing.assert_array_equal(np.array(rows[1:], dtype=int), (expected > 0.7).astype(int))


def test_predict_picks_the_models_feature_columns_by_name(capsys, trained, dataset, tmp_path):
    x, _ = dataset
    shuffled = write_csv(tmp_path / "new.csv", ["id", "f3", "f1", "f0", "f2"],
                         np.hstack([np.arange(len(x))[:, None], x[:, [3, 1, 0, 2]]]).tolist())
    code, out, err = run(capsys, "predict", trained, "--data", shuffled, "--proba", "--batch-size", SAME_BATCH)
    assert code == 0, err
    probabilities = np.array([line.split(",") for line in out.splitlines()[1:]], dtype=np.float64)
    np.testing.assert_array_equal(probabilities.astype(np.float32), model_probabilities(trained, x, SAME_BATCH))


def test_saved_model_keeps_the_column_names_and_loads_as_a_plain_model(trained):
    model, feature_names, label_names, standardization = cli.load_trained_model(str(trained))[:4]
    assert feature_names == ["f0", "f1", "f2", "f3"] and label_names == ["spam", "ham"]
    np.testing.assert_array_equal(standardization.mean, stored_standardization(trained)[0])
    from_python = Standardization.from_archive(trained, n_features=4)   # what the README offers Python users
    np.testing.assert_array_equal(from_python.scale, standardization.scale)
    np.testing.assert_array_equal(model.get_weights()[0], load_model(trained).get_weights()[0])


def test_a_model_trained_on_an_npz_predicts_on_a_csv_and_back_without_renaming(capsys, tmp_path, dataset):
    x, y = dataset
    np.savez(tmp_path / "unnamed.npz", x=x, y=y)                       # no feature_names: columns by position
    csv_path = write_csv(tmp_path / "named.csv", ["f0", "f1", "f2", "f3", "spam", "ham"], np.hstack([x, y]).tolist())
    for train_on, predict_on in ((tmp_path / "unnamed.npz", csv_path), (csv_path, tmp_path / "unnamed.npz")):
        model_path = tmp_path / f"from_{train_on.suffix[1:]}.npz"
        csv_labels = ["--labels", "spam,ham"]   # a CSV's label columns; an NPZ keeps its labels in y
        assert run(capsys, "train", "--data", train_on, *csv_labels * (train_on == csv_path), "--output",
                   model_path, *FAST)[0] == 0
        code, out, err = run(capsys, "predict", model_path, "--data", predict_on, *csv_labels * (predict_on == csv_path),
                             "--proba", "--batch-size", SAME_BATCH)
        assert code == 0, err
        probabilities = np.array([line.split(",") for line in out.splitlines()[1:]], dtype=np.float64)
        expected = model_probabilities(model_path, x, SAME_BATCH)
        np.testing.assert_array_equal(probabilities.astype(np.float32), expected)


def test_an_npz_that_names_its_features_is_read_by_name(capsys, trained, tmp_path, dataset):
    x, y = dataset
    np.savez(tmp_path / "named.npz", x=x[:, ::-1], y=y, feature_names=np.array(["f3", "f2", "f1", "f0"]))
    code, out, err = run(capsys, "predict", trained, "--data", tmp_path / "named.npz", "--proba",
                         "--batch-size", SAME_BATCH)
    assert code == 0, err
    probabilities = np.array([line.split(",") for line in out.splitlines()[1:]], dtype=np.float64)
    np.testing.assert_array_equal(probabilities.astype(np.float32), model_probabilities(trained, x, SAME_BATCH))


def test_delimiter_reads_a_semicolon_file_in_every_command(capsys, tmp_path, dataset):
    x, y = dataset
    path = tmp_path / "semi.csv"
    path.write_text("f0;f1;f2;f3;spam;ham\n" + "".join(";".join(map(repr, row)) + "\n"
                                                      for row in np.hstack([x, y]).tolist()))
    model_path = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", "--data", path, "--delimiter", ";", "--labels", "spam,ham",
                         "--output", model_path, *FAST)
    assert code == 0 and "(4 features, 2 labels), standardized features" in out, err
    assert run(capsys, "evaluate", model_path, "--data", path, "--delimiter", ";")[0] == 0
    code, out, _ = run(capsys, "predict", model_path, "--data", path, "--delimiter", ";", "--proba",
                       "--batch-size", SAME_BATCH)
    probabilities = np.array([line.split(",") for line in out.splitlines()[1:]], dtype=np.float64)
    np.testing.assert_array_equal(probabilities.astype(np.float32), model_probabilities(model_path, x, SAME_BATCH))
    code, _, err = run(capsys, "train", "--data", path, "--labels", "spam,ham", *FAST)   # without --delimiter
    assert code == 2 and "unknown label columns 'spam', 'ham'; columns: f0;f1;f2;f3;spam;ham (one column: " \
                         "is the file separated by another delimiter?)" in err


def test_train_on_csv_without_pandas_exits_2_with_the_install_hint(capsys, data_csv, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    code, out, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", *FAST)
    assert (code, out) == (2, "") and err == "npnet: error: reading CSV files needs pandas: pip install 'npnet[data]'\n"


# -- errors: exit code 2, one line naming the problem --------------------------------------------------

def _bad_csv(tmp_path, text: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


def _binary(tmp_path) -> Path:
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(128, 256)) * 4)
    return path


def _pickled(tmp_path) -> Path:
    path = tmp_path / "pickled.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    return path


@pytest.mark.parametrize("make_data, labels, message", [
    (lambda p: p / "nowhere.csv", "y", "no such file"),
    (_binary, "y", "not a readable CSV"),
    (_pickled, None, "pickled Python objects"),
    (lambda p: _bad_csv(p, "a,b,y\n1,2,0\n3,4,1\n"), "z", "unknown label column 'z'; columns: a, b, y"),
    (lambda p: _bad_csv(p, "a,b,y\n1,2,0\n3,four,1\n"), "y", "column 'b', data line 2: 'four', not a number"),
    (lambda p: _bad_csv(p, "a,b,y\n1,2,0\n3,,1\n"), "y", "column 'b', data line 2: an empty cell"),
    (lambda p: _bad_csv(p, "a,b,y\n1,2,0\nnan,4,1\n"), "y", "feature column 'a' has 1 NaN"),
    (lambda p: _bad_csv(p, "a,b,y\n1,2,0\n3,4,2\n"), "y", "the labels are numbers outside [0, 1] that are not "
                                                          "the class ids 0, 1, ..., C-1"),
    (lambda p: _bad_csv(p, "a,b,y\n1,2,0\n3,4\n"), "y", "line 3 has 2 cells, the header has 3"),
    (lambda p: _bad_csv(p, "a,b,y\n1,2,0\n3,4,1\n"), None, "no labels; name the CSV label columns with --labels"),
], ids=["missing", "unreadable", "pickle", "unknown-label", "non-numeric", "empty-cell", "nan", "label-range",
        "ragged", "no-labels"])
def test_bad_training_data_exits_2_with_one_line(capsys, tmp_path, make_data, labels, message):
    argv = ["train", "--data", make_data(tmp_path), *FAST] + (["--labels", labels] if labels else [])
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("npnet: error: ") and "Traceback" not in err
    assert message in err


def test_a_file_that_is_not_an_npnet_model_exits_2(capsys, tmp_path, data_csv, dataset):
    x, y = dataset
    np.savez(tmp_path / "data.npz", x=x, y=y)
    with open(tmp_path / "array.npz", "wb") as handle:
        np.save(handle, x)
    for model_path, message in ((tmp_path / "data.npz", "is not an npnet file"),
                                (tmp_path / "array.npz", "not an .npz archive"),
                                (data_csv, "is not a readable npnet file: it is a text file starting "
                                           "'f0,f1,f2,f3,spam,ham' (a CSV data file?), not an .npz archive"),
                                (tmp_path / "absent.npz", "no such model file")):
        code, _, err = run(capsys, "evaluate", model_path, "--data", data_csv)
        assert code == 2 and message in err and err.count("\n") == 1


def test_feature_count_mismatch_with_the_model_exits_2(capsys, trained, tmp_path, dataset):
    x, y = dataset
    np.savez(tmp_path / "five.npz", x=np.hstack([x, x[:, :1]]), y=y)
    code, _, err = run(capsys, "predict", trained, "--data", tmp_path / "five.npz")
    assert code == 2 and "5 feature columns" in err and "the model expects 4" in err


def test_missing_feature_column_names_the_available_ones(capsys, trained, tmp_path, dataset):
    x, y = dataset
    path = write_csv(tmp_path / "three.csv", ["f0", "f1", "f2", "spam", "ham"], np.hstack([x[:, :3], y]).tolist())
    code, _, err = run(capsys, "evaluate", trained, "--data", path)
    assert code == 2 and "unknown feature column 'f3'; columns: f0, f1, f2, spam, ham" in err


def test_an_output_directory_that_does_not_exist_is_refused_before_training(capsys, data_csv, tmp_path):
    code, out, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham",
                         "--output", tmp_path / "nowhere" / "m.npz", *FAST)
    assert code == 2 and "nowhere does not exist" in err and out == ""


def test_out_of_range_arguments_are_usage_errors(capsys):
    for argv in (["train", "--epochs", "0"], ["train", "--test-size", "1"], ["train", "--lr", "-1"],
                 ["train", "--dropout", "1"], ["train", "--l2", "-0.1"],
                 ["train", "--delimiter", ";;"], ["evaluate", "m.npz", "--data", "d.csv", "--delimiter", '"'],
                 ["train", "--plot", "curves.jpg"], ["predict", "m.npz", "--data", "d.csv", "--threshold", "2"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
        assert "error: argument" in capsys.readouterr().err


# -- plots, Keras, help -----------------------------------------------------------------------------

def test_plot_flags_write_png_files(capsys, data_csv, tmp_path):
    curves, bars = tmp_path / "curves.png", tmp_path / "labels.png"
    code, out, _ = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--plot", curves,
                       "--plot-labels", bars, *FAST)
    assert code == 0 and str(curves) in out and str(bars) in out
    for path in (curves, bars):
        content = path.read_bytes()
        assert content.startswith(PNG_SIGNATURE) and len(content) > 1000


def test_plot_without_matplotlib_says_which_extra_before_training(capsys, data_csv, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure"):   # None in sys.modules makes the import raise ImportError
        monkeypatch.setitem(sys.modules, name, None)
    code, out, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--plot", "c.png", *FAST)
    assert code == 2 and "pip install 'npnet[plots]'" in err and out == ""


def test_compare_keras_without_tensorflow_says_which_extra(capsys, data_csv, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tensorflow", "keras") else real_find_spec(name, *a))
    code, _, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--compare-keras", *FAST)
    assert code == 2 and "pip install 'npnet[reference]'" in err


def test_compare_keras_prints_both_test_scores(keras, capsys, data_csv):
    code, out, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--compare-keras", *FAST)
    assert code == 0, err
    npnet_loss = float(re.search(r"Test loss: (\S+)", out).group(1))
    row = lines_starting(out, "test loss")[0].split()
    assert float(row[2]) == pytest.approx(npnet_loss, abs=5e-7)
    assert float(row[3]) == pytest.approx(npnet_loss, abs=0.05)   # same start, differently shuffled batches


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["evaluate"], ["predict"]])
def test_help_works_for_every_command(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: npnet {' '.join(command)}".rstrip())
    if command != ["demo"]:
        assert "examples:" in out


def test_python_dash_m_npnet_trains_and_predicts_from_files(tmp_path, data_csv):
    model_path = tmp_path / "model.npz"
    result = subprocess.run([sys.executable, "-m", "npnet", "train", "--data", str(data_csv), "--labels", "spam,ham",
                             "--output", str(model_path), *FAST], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "-m", "npnet", "predict", str(model_path), "--data", "missing.csv"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2 and result.stderr == "npnet: error: missing.csv: no such file\n"


# -- per-label scores --------------------------------------------------------------------------------

def test_train_prints_scikit_learns_per_label_report(sklearn, capsys, data_csv):
    from sklearn.metrics import hamming_loss
    code, out, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", *FAST)
    assert code == 0, err
    for row in ("spam ", "ham ", "micro avg", "macro avg", "weighted avg", "hamming loss", "subset accuracy"):
        assert len(lines_starting(out, row)) == 1, row
    accuracy = float(re.search(r"Test accuracy: (\S+)", out).group(1))
    assert float(lines_starting(out, "hamming loss")[0].split()[-1]) == pytest.approx(1 - accuracy, abs=1e-4)
    assert hamming_loss([[1, 0]], [[1, 1]]) == 0.5   # the report's numbers are scikit-learn's (npnet.report)


def test_one_label_is_reported_as_its_positive_class(sklearn, capsys, tmp_path, dataset):
    x, y = dataset
    path = write_csv(tmp_path / "spam.csv", ["f0", "f1", "f2", "f3", "spam"], np.hstack([x, y[:, :1]]).tolist())
    positives = int(y[:, 0].sum())
    assert positives != len(y) - positives   # else the negative class's support would look the same
    model_path = tmp_path / "spam.npz"
    assert run(capsys, "train", "--data", path, "--labels", "spam", "--output", model_path, *FAST)[0] == 0
    code, out, err = run(capsys, "evaluate", model_path, "--data", path)
    assert code == 0, err
    assert int(lines_starting(out, "spam")[0].split()[4]) == positives


@pytest.fixture
def soft_csv(tmp_path, dataset):
    """The data of ``data_csv`` whose 'ham' labels are probabilities (soft labels)."""
    x, y = dataset
    ham = np.where(y[:, 1] == 1, 0.9, 0.2)
    return write_csv(tmp_path / "soft.csv", ["f0", "f1", "f2", "f3", "spam", "ham"],
                     np.hstack([x, y[:, :1], ham[:, None]]).tolist())


def test_soft_labels_train_save_the_model_and_skip_the_per_label_scores_naming_file_and_column(
        capsys, soft_csv, tmp_path):
    model_path = tmp_path / "soft.npz"
    code, out, err = run(capsys, "train", "--data", soft_csv, "--labels", "spam,ham", "--output", model_path, *FAST)
    assert code == 0, err
    assert load_model(model_path).layers[-1].units == 2
    skipped = f"per-label scores skipped: {soft_csv}: label column 'ham' holds probabilities such as 0."
    assert lines_starting(out, skipped) and not lines_starting(out, "micro avg")
    code, out, err = run(capsys, "evaluate", model_path, "--data", soft_csv)
    assert code == 0, err
    assert out.startswith("loss: ") and lines_starting(out, skipped)


def test_soft_labels_with_plot_labels_are_refused_before_training(capsys, soft_csv, tmp_path):
    code, out, err = run(capsys, "train", "--data", soft_csv, "--labels", "spam,ham",
                         "--plot-labels", tmp_path / "labels.png", *FAST)
    assert code == 2 and out == ""
    assert f"{soft_csv}: label column 'ham' holds probabilities such as 0." in err and "--plot-labels" in err


def test_the_model_is_saved_before_anything_after_training_can_fail(capsys, data_csv, tmp_path, monkeypatch):
    def failing_report(*args, **kwargs):
        raise ValueError("the report failed")
    monkeypatch.setattr(cli.report, "multilabel_report", failing_report)
    model_path = tmp_path / "model.npz"
    code, _, err = run(capsys, "train", "--data", data_csv, "--labels", "spam,ham", "--output", model_path, *FAST)
    assert code == 2 and "the report failed" in err
    assert load_model(model_path).layers[-1].units == 2


def test_build_model_defaults_draw_the_tutorial_models_weights():
    utils.set_random_seed(5)
    ours = cli.build_model(6, 3)
    utils.set_random_seed(5)
    theirs = tutorial.tutorial_model()
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert ours.optimizer.get_config() == theirs.optimizer.get_config()


def test_trace_prints_every_layer_forward_and_backward(sklearn, capsys):
    assert cli.main(["trace", "--batch-size", "20"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("One training step of") and "on a batch of 20" in printed
    assert len(re.findall(r"^  dense(?:_\d+)? \((?:relu|sigmoid)\)$", printed, flags=re.M)) == 8   # forward, backward
    assert printed.count("    dW ") == 4 and printed.count("    dy ") == 3   # no dy for the fused sigmoid output
    assert "update (adam, step 1)" in printed


def test_trace_compare_keras_reports_a_difference_at_float32_rounding(keras, sklearn, capsys):
    assert cli.main(["trace", "--compare-keras"]) == 0
    match = re.search(r"35 arrays compared, largest difference (\S+)", capsys.readouterr().out)
    assert match and float(match.group(1)) < 1e-5   # measured 1.2e-07 (testing.DEFAULT_TOLERANCES: 1e-5)


# == `npnet train`'s defaults on data it has never seen: the README's three scikit-learn data sets, run as printed. ===
#
# Each command in the README's "Defaults that work on the first try" block is
# run with its data written by examples/sklearn_data.py, and the model it
# saves must beat two trivial baselines computed from the same test split:
# - binary accuracy above the per-label majority class (learned from the
#   training split) by three binomial standard errors of that baseline,
#   sqrt(b (1 - b) / (N K)) over the N x K test cells (about 99.9% one-sided if
#   the cells were independent: beating it is not luck);
# - micro-averaged F1 (2 TP / (predicted positives + true positives)) that
#   closes at least a quarter of the gap between the best constant predictor's
#   F1 and a perfect 1. That predictor says all ones: 2 P / (N K + P) for P
#   positive cells (all zeros scores 0). On rare labels accuracy alone rewards
#   predicting nothing, which F1 does not.

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
