"""``npnet`` on the command line: ``demo``, ``trace``, ``train``, ``evaluate`` and ``predict``.

``main(argv)`` returns the exit code: 0 on success, 2 with a one-line
``npnet: error: ...`` on stderr for anything wrong with the user's files or
arguments (argparse's own usage errors exit with 2 as well). Data files are
read by ``npnet.datasets``; model files are ``Sequential.save`` archives to
which ``train`` adds the feature and label names and, on a data file, the
features' standardization (``npnet.preprocessing``), so ``evaluate`` and
``predict`` find the right columns, scale them as at training and name their
output. ``training_settings`` holds the defaults ``train`` picks for data it
has never seen.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import os
import sys
import time
from typing import Any, NamedTuple, Sequence

import numpy as np

from npnet import (activations, datasets, models, optimizers, plots, preprocessing, report, saving, targets, testing,
                   tutorial, utils)
from npnet._validation import check_float, check_int
from npnet.models import Sequential

HIDDEN_ACTIVATIONS = tuple(activations.names())
NO_LABELS = "no labels; name the CSV label columns with --labels or --label-prefix (an NPZ needs an array 'y')"


# -- demo ------------------------------------------------------------------------------------------

def demo(args: argparse.Namespace) -> int:
    """Train the tutorial's network as the tutorial does and print its test loss and accuracy."""
    utils.set_random_seed(args.seed)
    data = tutorial.tutorial_data()
    model = tutorial.tutorial_model()
    model.summary()
    start = time.perf_counter()
    model.fit(data.x_train, data.y_train, batch_size=args.batch_size, epochs=args.epochs,
              verbose=args.verbose, validation_split=tutorial.VALIDATION_SPLIT)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    print(f"fit: {seconds:.2f} s for {args.epochs} epochs")
    print(f"Test loss: {loss} / Test accuracy: {accuracy}")
    return 0


# -- trace -----------------------------------------------------------------------------------------

def trace(args: argparse.Namespace) -> int:
    """Print one training step of the tutorial's network layer by layer (``Sequential.trace``)."""
    utils.set_random_seed(args.seed)
    data = tutorial.tutorial_data()
    model = tutorial.tutorial_model()
    step = model.trace(data.x_train[:args.batch_size], data.y_train[:args.batch_size])
    print(step)
    if args.compare_keras:
        _require_reference("--compare-keras")
        differences = testing.compare_trace_with_keras(step)
        worst = max(differences, key=differences.get)
        print(f"\nKeras (tf.GradientTape) on the same weights: {len(differences)} arrays compared, "
              f"largest difference {differences[worst]:.2g} ({worst})")
    return 0


# -- train -----------------------------------------------------------------------------------------

def build_model(n_features: int, n_labels: int, hidden: Sequence[int] = tutorial.HIDDEN_UNITS,
                activation: str = "relu", optimizer: str = "adam", learning_rate: float | None = None,
                task: str = "multilabel", dropout: float = 0.0, batchnorm: bool = False,
                l2: float = 0.0) -> Sequential:
    """An MLP n_features-hidden...-n_labels with the task's output layer, loss and metric (``targets.HEADS``).

    With the defaults it is the tutorial's model, drawing the same initial
    weights as ``tutorial.tutorial_model()`` under the same seed; ``dropout``,
    ``batchnorm`` and ``l2`` are ``tutorial.mlp``'s options.
    """
    output, loss, metrics = targets.HEADS[task]
    return tutorial.mlp(
        n_features, n_labels, hidden, activation,
        optimizers.get(optimizer) if learning_rate is None
        else optimizers.from_config({"name": optimizer, "learning_rate": learning_rate}),
        output_activation=output, loss=loss, metrics=metrics, dropout=dropout, batchnorm=batchnorm, l2=l2)


def _training_data(args: argparse.Namespace) -> tuple[tutorial.TutorialData, list[str] | None, targets.Targets]:
    """Train/test arrays, the feature names (None when the data name none) and what the targets are.

    From ``--data`` or, without it, the tutorial's generator (unnamed features,
    multilabel). The task is ``--task``, or read from the label values (``npnet.targets``).
    """
    if args.data is None:
        if args.task not in ("auto", "multilabel"):
            raise datasets.DataError(f"--task {args.task} needs --data: the tutorial's data are multilabel")
        data = tutorial.tutorial_data(args.data_seed, n_samples=args.n_samples, n_features=args.n_features,
                                      n_classes=args.n_classes, n_labels=args.n_labels, test_size=args.test_size)
        return data, None, targets.Targets("multilabel", data.y_train, [f"label_{i}" for i in range(args.n_classes)],
                                           None)
    table = datasets.load_table(args.data, labels=args.labels, label_prefix=args.label_prefix,
                                delimiter=args.delimiter, raw_labels=True)
    if table.y is None:
        columns = f"; columns: {', '.join(table.feature_names)}" if table.feature_names else ""
        raise datasets.DataError(f"{args.data}: {NO_LABELS}{columns}")
    kind = targets.infer(table.y, table.label_names, args.task, args.data)
    x_train, x_test, y_train, y_test = datasets.split(table.x, kind.y, args.test_size, args.data_seed)
    return tutorial.TutorialData(x_train, x_test, y_train, y_test), table.feature_names, kind


class Settings(NamedTuple):
    hidden: tuple[int, ...]   # hidden layer sizes
    batch_size: int
    epochs: int
    standardize: bool         # fit a Standardization on the training split and train on standardized features


# On a user's data (--data): Keras's default batch of 32 and enough epochs for about this many optimizer
# steps; the tutorial's data keep the tutorial's settings. Measured on the README's three data sets.
USER_BATCH_SIZE, USER_STEPS = 32, 2000


def training_settings(args: argparse.Namespace, n_train: int, n_labels: int) -> Settings:
    """The settings ``train`` uses: the user's flags where given, else defaults suited to the data.

    Tutorial data (no --data): the tutorial's 32-16-8 network, batches of 250,
    50 epochs, raw features. A data file: standardized features; two hidden
    layers of max(64, 2K) and max(32, K) units for K labels (never narrower
    than the output: the tutorial's 8-unit layer starves a 25-label output);
    batches of 32; epochs = ceil(2000 / steps per epoch), so a small file
    gets about 2,000 steps and a large one a single epoch.
    """
    if args.data is None:
        defaults = Settings(tutorial.HIDDEN_UNITS, tutorial.BATCH_SIZE, tutorial.N_EPOCHS, False)
    else:
        batch_size = args.batch_size or USER_BATCH_SIZE
        steps_per_epoch = math.ceil(n_train * (1 - args.validation_split) / batch_size)
        defaults = Settings((max(64, 2 * n_labels), max(32, n_labels)), batch_size,
                            math.ceil(USER_STEPS / steps_per_epoch), True)
    chosen = (args.hidden, args.batch_size, args.epochs, args.standardize)
    return Settings(*(default if flag is None else flag for flag, default in zip(chosen, defaults)))


def train(args: argparse.Namespace) -> int:
    """Fit a model on the training split, report it on the test split, optionally save and plot."""
    _check_directories(args.output, args.plot, args.plot_labels)   # fail before training, not after
    if args.plot or args.plot_labels:
        plots.require_matplotlib()
    data, feature_names, kind = _training_data(args)
    label_names = kind.names
    soft = _soft_labels(data.y_test, label_names, args.data) if kind.task == "multilabel" else None
    if soft and args.plot_labels:
        raise datasets.DataError(f"{soft}; --plot-labels plots precision, recall and F1, which count 0/1 labels")
    settings = training_settings(args, len(data.x_train), len(label_names))
    standardization = preprocessing.Standardization.fit(data.x_train) if settings.standardize else None
    if standardization is not None:
        data = data._replace(x_train=standardization.apply(data.x_train), x_test=standardization.apply(data.x_test))
    utils.set_random_seed(args.seed)
    model = build_model(data.x_train.shape[1], len(label_names), settings.hidden, args.activation,
                        args.optimizer, args.lr, kind.task, args.dropout, args.batchnorm, args.l2)
    twin = _keras_twin(model, args.seed) if args.compare_keras else None   # before fit: same initial weights
    if args.verbose:
        model.summary()
    fit_options = dict(batch_size=settings.batch_size, epochs=settings.epochs,
                       validation_split=args.validation_split)
    start = time.perf_counter()
    history = model.fit(data.x_train, data.y_train, verbose=args.verbose, **fit_options)
    seconds = time.perf_counter() - start
    print(f"fit: {seconds:.2f} s for {settings.epochs} epochs in batches of {settings.batch_size} on "
          f"{len(data.x_train)} samples ({data.x_train.shape[1]} features, "
          f"{'' if kind.task == 'multilabel' else kind.task + ': '}{len(label_names)} "
          f"{_OUTPUT_WORDS[kind.task][len(label_names) != 1]}), "
          f"{'standardized' if standardization is not None else 'raw'} features")
    if args.output:   # first: nothing that fails after training may cost the trained model
        save_trained_model(TrainedModel(model, feature_names, label_names, standardization, kind.task,
                                        kind.column), args.output)
        print(f"model: {args.output}")
    loss, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=settings.batch_size, verbose=0)
    print(f"Test loss: {loss} / Test {model.metrics[0].name}: {accuracy}")
    outputs = model.predict(data.x_test, batch_size=settings.batch_size, verbose=0)
    scores = _task_report(kind.task, data.y_test, outputs, label_names, args.data)
    if twin is not None:
        print(_compare_with_keras(twin, data, (loss, accuracy, seconds), fit_options))
    if args.plot:
        plots.plot_history(history, args.plot)
        print(f"training curves: {args.plot}")
    if args.plot_labels:
        _plot_task(kind.task, data.y_test, outputs, label_names, scores, args.plot_labels)
    return 0


# What a task's outputs are called in the fit line, singular and plural.
_OUTPUT_WORDS = {"multilabel": ("label", "labels"), "multiclass": ("class", "classes"),
                 "regression": ("target", "targets")}


def _task_report(task: str, y: np.ndarray, outputs: np.ndarray, names: Sequence[str],
                 source: str | None) -> dict[str, Any] | None:
    """Print what fits the task: per-label scores (multilabel), per-class report, MAE/RMSE/R2."""
    if task == "multilabel":
        return label_report(y, outputs, names, source)
    print(targets.report(task, y, outputs, names))
    return None


def _plot_task(task: str, y: np.ndarray, outputs: np.ndarray, names: Sequence[str], scores: dict | None,
               path: str) -> None:
    """--plot-labels: per-label P/R/F1, the confusion matrix, or predicted against true values."""
    if task == "multilabel":
        plots.plot_label_metrics({key: [scores["labels"][name][key] for name in names]
                                  for key in ("precision", "recall", "f1")}, names, path)
        print(f"per-label scores: {path}")
    elif task == "multiclass":
        plots.plot_confusion_matrix(y, outputs.argmax(axis=1), names, path)
        print(f"confusion matrix: {path}")
    else:
        plots.plot_predicted_vs_true(y, outputs, names, path)
        print(f"predicted against true values: {path}")


def _check_directories(*paths: str | None) -> None:
    """Refuse output paths whose directory does not exist."""
    for path in filter(None, paths):
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise datasets.DataError(f"{path}: directory {directory} does not exist")


def _require_reference(option: str) -> None:
    """Refuse ``option`` unless TensorFlow and Keras are installed; keep TensorFlow's logging quiet."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
        raise ImportError(f"{option} needs TensorFlow: pip install 'npnet[reference]'")


def _keras_twin(model: Sequential, seed: int) -> Any:
    """The Keras copy of ``model`` (same weights and compile settings), seeded for its own shuffling."""
    _require_reference("--compare-keras")
    import keras

    from npnet import interop
    keras.utils.set_random_seed(seed)
    return interop.to_keras(model)


def _compare_with_keras(twin: Any, data: tutorial.TutorialData, ours: tuple[float, float, float],
                        fit_options: dict) -> str:
    """Fit the Keras twin as npnet was fitted; a table of both test scores and fit times."""
    start = time.perf_counter()
    twin.fit(data.x_train, data.y_train, verbose=0, **fit_options)
    seconds = time.perf_counter() - start
    loss, accuracy = twin.evaluate(data.x_test, data.y_test, batch_size=fit_options["batch_size"], verbose=0)
    rows = [("test loss", ours[0], loss, ".6f"), ("test accuracy", ours[1], accuracy, ".6f"),
            ("fit time (s)", ours[2], seconds, ".2f")]
    lines = ["same initial weights; each library shuffles the batches with its own generator",
             f"{'':<15}{'npnet':>12}{'Keras':>12}"]
    lines += [f"{name:<15}{a:>12{spec}}{float(b):>12{spec}}" for name, a, b, spec in rows]
    return "\n".join(lines)


# -- per-label scores ------------------------------------------------------------------------------

def label_report(y_true: np.ndarray, probabilities: np.ndarray, label_names: Sequence[str],
                 source: str | None) -> dict[str, Any] | None:
    """``npnet.report.multilabel_report`` at threshold 0.5, printed as its table; returns the report.

    Labels that are probabilities (soft labels, which training takes as binary
    crossentropy targets) have no precision or recall: the table is skipped
    with a line saying which column of ``source`` (the data file) is soft, and
    None is returned.
    """
    soft = _soft_labels(y_true, label_names, source)
    if soft:
        print(f"per-label scores skipped: {soft}; precision, recall and F1 count 0/1 labels "
              "(score the model on a file whose labels are 0/1)")
        return None
    scores = report.multilabel_report(y_true, probabilities, label_names=list(label_names))
    print(report.format_report(scores))
    return scores


def _soft_labels(y: np.ndarray, label_names: Sequence[str], source: str | None) -> str | None:
    """"FILE: label column 'c' holds probabilities such as 0.3, ..." for the first label that is not 0/1, or None."""
    hard = np.isin(y, (0.0, 1.0))   # (N, K)
    soft_columns = np.flatnonzero(~hard.all(axis=0))
    if not soft_columns.size:
        return None
    first = soft_columns[0]
    more = f" (and {soft_columns.size - 1} more)" if soft_columns.size > 1 else ""
    return (f"{source or 'the data'}: label column {label_names[first]!r}{more} holds probabilities "
            f"such as {y[~hard[:, first], first][0]:g}, not 0/1 labels")


# -- model files -----------------------------------------------------------------------------------

class TrainedModel(NamedTuple):
    """A model file written by ``npnet train``: the model and what the CLI stored beside it."""
    model: Sequential
    feature_names: list[str] | None   # the training data's feature names; None when it named none
    label_names: list[str] | None     # label/target columns, or the class names (multiclass); None: Sequential.save
    standardization: preprocessing.Standardization | None   # applied to features before the model
    task: str = "multilabel"          # npnet.targets' task the model was trained for
    label_column: str | None = None   # multiclass: the column holding the class names


def save_trained_model(trained: TrainedModel, path: str) -> None:
    """``model.save(path)``, plus the names and the standardization as arrays in the same archive.

    ``npnet.models.load_model`` reads only ``config`` and ``weight_*``, so the file stays a
    plain npnet model; the names are unicode arrays, loadable without pickle.
    """
    trained.model.save(path)
    arrays = saving.read_archive(path)
    if trained.feature_names is not None:
        arrays["feature_names"] = np.array(list(trained.feature_names), dtype=str)
    if trained.label_names is not None:
        arrays["label_names"] = np.array(list(trained.label_names), dtype=str)
    if trained.standardization is not None:
        arrays.update(trained.standardization.to_arrays())
    arrays["task"] = np.array(trained.task)
    if trained.label_column is not None:
        arrays["label_column"] = np.array(trained.label_column)
    saving.write_archive(path, arrays)


def load_trained_model(path: str) -> TrainedModel:
    """The model in ``path`` and what ``save_trained_model`` stored beside it (None where absent)."""
    if not os.path.isfile(path):
        raise datasets.DataError(f"{path}: no such model file")
    try:
        model = models.load_model(path)
    except ValueError as error:   # its first sentence; NumPy's advice to allow pickles is not for us
        raise datasets.DataError(str(error).split(". ")[0]) from None
    arrays = saving.read_archive(path)
    names = []
    for key, count in (("feature_names", model.input_shape[1]), ("label_names", model.layers[-1].units)):
        stored = arrays.get(key)
        if stored is not None and (stored.dtype.kind != "U" or stored.shape != (count,)):
            raise ValueError(f"{path}: {key!r} must be {count} strings, got {stored!r}")
        names.append(None if stored is None else [str(name) for name in stored])
    standardization = preprocessing.Standardization.from_arrays(arrays, model.input_shape[1], path)
    task = str(arrays.get("task", "multilabel"))
    if task not in targets.HEADS:
        raise ValueError(f"{path}: 'task' must be one of {sorted(targets.HEADS)}, got {task!r}")
    if model.loss is None:   # saved before compile: score it as npnet trains it
        model.compile(loss=targets.HEADS[task][1], metrics=targets.HEADS[task][2])
    column = str(arrays["label_column"]) if "label_column" in arrays else None
    return TrainedModel(model, *names, standardization, task, column)


def _model_features(args: argparse.Namespace, trained: TrainedModel, need_labels: bool) -> datasets.Table:
    """``--data`` read for the trained model: its features (standardized as at training) and labels.

    Feature columns are matched by name when both the model and the file
    name them, so label or id columns in a CSV are left out and the order
    does not matter; by position when either side names none (a model
    trained on an NPZ without feature_names, or such an NPZ given to a model
    trained on a CSV): then the file's non-label columns must be as many as
    the model's inputs. evaluate takes its label columns by the stored names
    unless told otherwise (an NPZ carries its own in ``y``).
    """
    model, label_names = trained.model, trained.label_names
    labels = args.labels
    if need_labels and labels is None and args.label_prefix is None and not datasets.is_npz(args.data):
        labels = [trained.label_column] if trained.label_column is not None else label_names
    table = datasets.load_table(args.data, labels=labels, label_prefix=args.label_prefix,
                                features=trained.feature_names, delimiter=args.delimiter,
                                raw_labels=trained.task != "multilabel")
    if table.x.shape[1] != model.input_shape[1]:
        columns = f" ({', '.join(table.feature_names)})" if table.feature_names else ""
        raise datasets.DataError(f"{args.data}: {table.x.shape[1]} feature columns{columns}, "
                                 f"the model expects {model.input_shape[1]}")
    if need_labels:
        if table.y is None:
            raise datasets.DataError(f"{args.data}: {NO_LABELS}")
        if trained.task != "multilabel":
            table = table._replace(y=targets.encode(table.y, trained.task, label_names or [], args.data))
        if trained.task != "multiclass" and table.y.shape[1] != model.layers[-1].units:
            raise datasets.DataError(f"{args.data}: {table.y.shape[1]} label columns, "
                                     f"the model predicts {model.layers[-1].units}")
    if trained.standardization is not None:
        table = table._replace(x=trained.standardization.apply(table.x))
    return table


# -- evaluate, predict -----------------------------------------------------------------------------

def evaluate(args: argparse.Namespace) -> int:
    """Print the saved model's loss and metrics on a labelled data file, and per-label scores."""
    trained = load_trained_model(args.model)
    model, table = trained.model, _model_features(args, trained, need_labels=True)
    values = model.evaluate(table.x, table.y, batch_size=args.batch_size, verbose=0)
    print(" / ".join(f"{name}: {value}" for name, value in zip(model.metrics_names, np.atleast_1d(values))))
    names = table.label_names if trained.task == "multilabel" else trained.label_names
    _task_report(trained.task, table.y, model.predict(table.x, batch_size=args.batch_size, verbose=0), names,
                 args.data)
    return 0


def predict(args: argparse.Namespace) -> int:
    """Write one CSV row per sample: 0/1 per label (probability > threshold), or the probabilities."""
    _check_directories(args.output)
    trained = load_trained_model(args.model)
    table = _model_features(args, trained, need_labels=False)
    probabilities = trained.model.predict(table.x, batch_size=args.batch_size, verbose=0)
    names = trained.label_names or [f"label_{k}" for k in range(probabilities.shape[1])]
    # The 0/1 form thresholds as binary accuracy does; a multiclass model writes each row's class.
    names, rows = targets.prediction_rows(trained.task, probabilities, names, args.threshold, args.proba)
    if args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as handle:
            _write_csv(handle, names, rows)
        print(f"predictions for {len(rows)} samples: {args.output}")
    else:
        _write_csv(sys.stdout, names, rows)
    return 0


def _write_csv(handle: Any, header: list[str], rows: list[list[Any]]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


# -- the parser ------------------------------------------------------------------------------------

def _int_at_least(minimum: int) -> Any:
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            return check_int(int(text), "value", minimum=minimum)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


def _float_in(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Any:
    """An argparse type: a finite number in the interval, ends open where asked."""
    def parse(text: str) -> float:
        try:
            return check_float(float(text), "value", low, high, low_open=low_open, high_open=high_open)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


_positive_int, _seed = _int_at_least(1), _int_at_least(0)
_fraction, _open_fraction = _float_in(0.0, 1.0, high_open=True), _float_in(0.0, 1.0, low_open=True, high_open=True)
_probability, _positive_float = _float_in(0.0, 1.0), _float_in(0.0, np.inf, low_open=True, high_open=True)
_non_negative_float = _float_in(0.0, np.inf, high_open=True)


def _int_list(text: str) -> tuple[int, ...]:
    """``"32,16,8"`` -> (32, 16, 8); ``""`` -> () (no hidden layer)."""
    return tuple(_positive_int(part) for part in text.split(",")) if text.strip() else ()


def _name_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def _delimiter(text: str) -> str:
    """One character; ``tab`` or ``\\t`` for a tab, which a shell does not pass easily."""
    text = "\t" if text in ("tab", "\\t") else text
    if len(text) != 1 or text in "\"\r\n":
        raise argparse.ArgumentTypeError(f"expected one character (or 'tab'), got {text!r}")
    return text


def _suffix(extension: str) -> Any:
    def parse(text: str) -> str:
        if not text.lower().endswith(extension):
            raise argparse.ArgumentTypeError(f"must end with {extension}, got {text!r}")
        return text
    return parse


def _add_label_options(parser: argparse.ArgumentParser, note: str) -> None:
    parser.add_argument("--delimiter", metavar="CHAR", type=_delimiter, default=",",
                        help="the CSV's cell separator ('tab' for tabs)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--labels", type=_name_list, metavar="COL1,COL2,...",
                       help=f"CSV label columns; every other column is a feature ({note})")
    group.add_argument("--label-prefix", metavar="PREFIX", help="CSV label columns: those whose name starts so")


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and examples as written, each option's default appended to its help."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):   # nothing worth saying: unset options and flags
            return action.help
        return super()._get_help_string(action)


TRAIN_EXAMPLES = """examples:
  npnet train                                   the tutorial's data and model, 50 epochs
  npnet train --epochs 5 --hidden 64,32 --lr 0.003 --output model.npz --plot curves.png
  npnet train --data songs.csv --labels rock,jazz,pop --output model.npz
  npnet train --data data.npz --compare-keras   also train the Keras twin (needs npnet[reference])
  npnet train --batchnorm --dropout 0.2 --l2 0.001   regularized and normalized hidden layers

Data files: a CSV with a header row (label columns named by --labels or
--label-prefix, every other column is a feature; read with pandas, `pip install
'npnet[data]'`), or an NPZ with arrays x (N, features), y (N, labels) and
optional feature_names, label_names. Labels must be 0/1, True/False (as pandas
writes them) or probabilities in [0, 1]; empty cells and NaN are refused.
With probabilities, the model trains on them and is saved, accuracy counts only
the targets that are exactly 0/1 (as Keras's binary accuracy does), the
per-label scores are skipped with a note, and --plot-labels is refused.

Defaults: on the tutorial's data, the tutorial's settings (32,16,8 hidden
units, batches of 250, 50 epochs, raw features). On a data file with K labels:
features standardized with the training split's mean and standard deviation
(stored in the model file; evaluate and predict apply them), hidden layers of
max(64, 2K) and max(32, K) units, batches of 32 and ceil(2000 / steps per epoch)
epochs (about 2,000 steps; one epoch for a large file). Flags override each."""

EVALUATE_EXAMPLES = """examples:
  npnet evaluate model.npz --data test.csv      label columns as stored at training
  npnet evaluate model.npz --data test.csv --labels rock,jazz,pop"""

PREDICT_EXAMPLES = """examples:
  npnet predict model.npz --data new.csv --output preds.csv
  npnet predict model.npz --data new.csv --proba        probabilities to stdout

A model saved by `npnet train` picks its feature columns by name when the
file names them too, so extra columns (labels, ids) are ignored; when either
side names none (a model trained on an NPZ without feature_names, or such an
NPZ), by position: the file's non-label columns must be the model's inputs.
Features are standardized as at training when the model file says so."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npnet", formatter_class=_Formatter,
        description="npnet: a NumPy multilabel network with Keras's API.",
        epilog="examples:\n  npnet demo\n  npnet trace --compare-keras\n  npnet train --epochs 20 --output model.npz --plot curves.png\n"
               "  npnet evaluate model.npz --data test.csv\n  npnet predict model.npz --data new.csv\n\n"
               "`npnet COMMAND --help` describes each command. Errors exit with code 2.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("demo", help="train the tutorial's model on the tutorial's data (needs scikit-learn)",
                              formatter_class=_Formatter,
                              description="Train the tutorial's 6-32-16-8-3 network exactly as the tutorial does\n"
                                          "and print its test loss and accuracy.")
    run.add_argument("--epochs", metavar="N", type=int, default=tutorial.N_EPOCHS, help="passes over the data")
    run.add_argument("--batch-size", metavar="N", type=int, default=tutorial.BATCH_SIZE, help="samples per step")
    run.add_argument("--seed", metavar="SEED", type=int, default=tutorial.RANDOM_STATE, help="npnet's random seed")
    run.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="0 silent, 1 bar, 2 a line per epoch")
    run.set_defaults(handler=demo)

    step = commands.add_parser(
        "trace", help="one training step of the tutorial's network, layer by layer, with real numbers",
        formatter_class=_Formatter,
        description="Print each layer's z, y = f(z), dy, dz = dy * f'(z), dW, db and Adam's update for the\n"
                    "first batch of the tutorial's data (docs/backprop.md#tracing-a-step).")
    step.add_argument("--batch-size", metavar="N", type=_positive_int, default=tutorial.BATCH_SIZE,
                      help="samples in the batch")
    step.add_argument("--seed", metavar="SEED", type=int, default=tutorial.RANDOM_STATE, help="npnet's random seed")
    step.add_argument("--compare-keras", action="store_true",
                      help="recompute every array with Keras on the same weights (needs npnet[reference])")
    step.set_defaults(handler=trace)

    fit = commands.add_parser(
        "train", help="train a model on the tutorial's data or a CSV/NPZ file", formatter_class=_Formatter,
        description="Train a network for the labels' task (multilabel: sigmoid outputs, binary crossentropy;\n"
                    "multiclass: a softmax, sparse categorical crossentropy; regression: linear outputs, MSE)\n"
                    "and print its test loss and what fits the task; optionally save it and plot its training.",
        epilog=TRAIN_EXAMPLES)
    source = fit.add_argument_group("data (the tutorial's make_multilabel_classification unless --data)")
    source.add_argument("--data", metavar="FILE", help="a CSV or NPZ data file")
    _add_label_options(source, "required for a CSV")
    source.add_argument("--task", choices=targets.TASKS, default="auto",
                        help="what the labels are: auto reads it from them (one column of class names or ids: "
                             "multiclass; 0/1 columns: multilabel); regression for real-valued targets")
    source.add_argument("--n-samples", metavar="N", type=_positive_int, default=tutorial.N_SAMPLES, help="samples")
    source.add_argument("--n-features", metavar="N", type=_positive_int, default=tutorial.N_FEATURES, help="features")
    source.add_argument("--n-classes", metavar="N", type=_positive_int, default=tutorial.N_CLASSES, help="labels")
    source.add_argument("--n-labels", metavar="N", type=_positive_int, default=tutorial.N_LABELS,
                        help="average labels per sample")
    source.add_argument("--test-size", metavar="FRACTION", type=_open_fraction, default=tutorial.TEST_SIZE,
                        help="fraction held out for testing")
    source.add_argument("--data-seed", metavar="SEED", type=_seed, default=tutorial.RANDOM_STATE,
                        help="seed of the data and the test split")
    net = fit.add_argument_group("model and training (defaults: see below)")
    net.add_argument("--hidden", metavar="N1,N2,...", type=_int_list,
                     help="hidden layer sizes ('' for none)")
    net.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="relu", help="hidden activation")
    net.add_argument("--dropout", metavar="RATE", type=_fraction, default=0.0,
                     help="Dropout(RATE) after each hidden layer (0: none)")
    net.add_argument("--batchnorm", action="store_true",
                     help="BatchNormalization in each hidden layer: Dense -> BatchNormalization -> activation")
    net.add_argument("--l2", metavar="FACTOR", type=_non_negative_float, default=0.0,
                     help="L2(FACTOR) penalty on every kernel, part of the reported loss (0: none)")
    net.add_argument("--optimizer", choices=optimizers.names(), default="adam", help="update rule")
    net.add_argument("--lr", metavar="RATE", type=_positive_float,
                     help="learning rate (default: the optimizer's, as Keras: adam 0.001, sgd 0.01)")
    net.add_argument("--epochs", metavar="N", type=_positive_int, help="passes over the training data")
    net.add_argument("--batch-size", metavar="N", type=_positive_int, help="samples per step")
    net.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                     help="standardize the features with the training split's mean and standard deviation")
    net.add_argument("--validation-split", metavar="FRACTION", type=_fraction, default=tutorial.VALIDATION_SPLIT,
                     help="last fraction of the training split used for validation")
    net.add_argument("--seed", metavar="SEED", type=_seed, default=tutorial.RANDOM_STATE,
                     help="seed of the initial weights and the shuffling")
    out = fit.add_argument_group("output")
    out.add_argument("--output", type=_suffix(".npz"), metavar="MODEL.npz", help="save the trained model")
    out.add_argument("--plot", type=_suffix(".png"), metavar="CURVES.png", help="loss and accuracy curves")
    out.add_argument("--plot-labels", type=_suffix(".png"), metavar="LABELS.png",
                     help="on the test split: per-label precision, recall and F1 (multilabel), the confusion "
                          "matrix (multiclass), predicted against true values (regression)")
    out.add_argument("--compare-keras", action="store_true",
                     help="also train the Keras twin from the same initial weights (needs npnet[reference])")
    out.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0 silent, 1 progress bar, 2 a line per epoch")
    fit.set_defaults(handler=train)

    score = commands.add_parser("evaluate", help="loss and metrics of a saved model on a labelled data file",
                                formatter_class=_Formatter, epilog=EVALUATE_EXAMPLES,
                                description="Load a model saved by `npnet train` (or Sequential.save) and print\n"
                                            "its loss, accuracy and per-label scores on a data file.")
    score.add_argument("model", metavar="MODEL", help="a model file (.npz)")
    score.add_argument("--data", metavar="FILE", required=True, help="a CSV or NPZ data file with labels")
    _add_label_options(score, "default: the names stored in the model")
    score.add_argument("--batch-size", metavar="N", type=_positive_int, default=tutorial.BATCH_SIZE,
                       help="samples per step (the scores do not depend on it)")
    score.set_defaults(handler=evaluate)

    guess = commands.add_parser("predict", help="write a saved model's predictions as CSV",
                                formatter_class=_Formatter, epilog=PREDICT_EXAMPLES,
                                description="Load a saved model and write one CSV row per sample, one column per\n"
                                            "label: 1 where the probability exceeds the threshold.")
    guess.add_argument("model", metavar="MODEL", help="a model file (.npz)")
    guess.add_argument("--data", metavar="FILE", required=True, help="a CSV or NPZ data file")
    _add_label_options(guess, "to leave out of the features")
    guess.add_argument("--output", metavar="PREDS.csv", help="where to write (default: stdout)")
    guess.add_argument("--threshold", metavar="P", type=_probability, default=0.5,
                       help="a label is predicted when its probability exceeds this")
    guess.add_argument("--proba", action="store_true", help="write the probabilities instead of 0/1")
    guess.add_argument("--batch-size", metavar="N", type=_positive_int, default=tutorial.BATCH_SIZE,
                       help="samples per step")
    guess.set_defaults(handler=predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors print ``npnet: error: ...`` (no traceback) and return 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:   # `npnet predict ... | head`: the reader left; stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # so the exit-time flush cannot fail
        return 0
    except (ValueError, OSError, ImportError) as error:   # the user's files and environment, not npnet's bugs
        print(f"npnet: error: {error}", file=sys.stderr)
        return 2
