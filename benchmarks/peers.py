"""The contestants: npnet, Keras 3, scikit-learn's MLPClassifier and PyTorch, behind one small interface.

Every peer trains the same network the same way: Dense layers with ReLU,
a sigmoid output per label with binary crossentropy (``head="sigmoid"``, the
tutorial) or a softmax over the classes with categorical crossentropy
(``head="softmax"``, the digits), Adam (lr 1e-3, epsilon 1e-7, Keras's
default), float32, mini-batches of a fixed size, shuffled every epoch. Each
peer imports its framework only when first used, so a run without TensorFlow
or PyTorch never loads them.

Shapes: x (N, I) float32, y (N, K) float32 in {0, 1} (one-hot rows for a softmax).
"""
from __future__ import annotations

import importlib.util
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

LEARNING_RATE, EPSILON = 1e-3, 1e-7   # Adam, as Keras defaults it (torch's default epsilon is 1e-8)


@dataclass(frozen=True)
class Workload:
    """One training job, identical for every peer."""
    hidden: tuple[int, ...]           # units of the ReLU layers
    batch_size: int
    epochs: int
    validation_split: float = 0.0     # the LAST fraction of rows, evaluated after every epoch (Keras's rule)
    shuffle: bool = True
    head: str = "sigmoid"             # "sigmoid" (labels, binary crossentropy) or "softmax" (classes)


def split_index(n: int, validation_split: float) -> int:
    """Rows used for training: floor(n * (1 - validation_split)), as Keras and npnet split."""
    return math.floor(n * (1.0 - validation_split))


def binary_accuracy(probabilities: np.ndarray, y: np.ndarray) -> float:
    """Mean over rows and labels of (p > 0.5) == y: the tutorial's metric."""
    return float(np.mean((probabilities > 0.5) == (y > 0.5)))


def accuracy(head: str, probabilities: np.ndarray, y: np.ndarray) -> float:
    """The head's accuracy: binary over labels (sigmoid), or argmax matches over rows (softmax, one-hot y)."""
    if head == "softmax":
        return float(np.mean(probabilities.argmax(axis=1) == y.argmax(axis=1)))
    return binary_accuracy(probabilities, y)


class Peer:
    """A framework under test. ``model`` is whatever ``build`` returns, opaque to the callers."""

    name: str
    module: str            # what a user imports to train with this peer
    validates: bool = True  # whether ``fit`` runs the per-epoch validation pass

    def available(self) -> bool:
        return importlib.util.find_spec(self.module.split(".")[0]) is not None   # without importing it

    def configure(self, threads: int | None) -> str:
        """Import the framework, fix its own thread count; return a note saying what was set.

        NumPy's BLAS and OpenMP pools are capped afterwards by ``get``, for all peers at once.
        """
        importlib.import_module(self.module)
        return f"{self.name}: BLAS/OpenMP threads {threads or 'library default'}"

    def build(self, n_inputs: int, hidden: tuple[int, ...], n_outputs: int, seed: int, head: str = "sigmoid") -> Any:
        raise NotImplementedError

    def fit(self, model: Any, x: np.ndarray, y: np.ndarray, work: Workload) -> None:
        raise NotImplementedError

    def predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        """Probabilities (N, K)."""
        raise NotImplementedError

    def train_step(self, model: Any, x: np.ndarray, y: np.ndarray) -> None:
        """One optimizer update on one batch, through the framework's own single-batch entry point."""
        raise NotImplementedError


class NpnetPeer(Peer):
    name, module = "npnet", "npnet"

    def build(self, n_inputs, hidden, n_outputs, seed, head="sigmoid"):
        from npnet import Sequential, optimizers, utils
        from npnet.layers import Dense, Input
        utils.set_random_seed(seed)   # the layers below draw as tutorial.multilabel_model's do
        model = Sequential([Input(shape=(n_inputs,))] + [Dense(units, activation="relu") for units in hidden]
                           + [Dense(n_outputs, activation=head)], dtype="float32")
        model.compile(optimizer=optimizers.Adam(LEARNING_RATE, epsilon=EPSILON), metrics=["accuracy"],
                      loss="categorical_crossentropy" if head == "softmax" else "binary_crossentropy")
        return model

    def fit(self, model, x, y, work):
        model.fit(x, y, batch_size=work.batch_size, epochs=work.epochs, verbose=0,
                  validation_split=work.validation_split, shuffle=work.shuffle)

    def predict(self, model, x):
        return model.predict(x, batch_size=4096, verbose=0)

    def train_step(self, model, x, y):
        model.train_on_batch(x, y)


class KerasPeer(Peer):
    """Keras 3 on TensorFlow, the model from reference.keras_model.build_model (BinaryAccuracy metric)."""

    name, module = "keras", "keras"

    def configure(self, threads):
        from reference import keras_model
        keras_model.keras_module()
        import tensorflow as tf
        if threads is not None:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        return f"keras: TensorFlow intra-op threads {intra or 'default (all cores)'}, inter-op {inter or 'default'}"

    def build(self, n_inputs, hidden, n_outputs, seed, head="sigmoid"):
        from reference import keras_model
        keras = keras_model.keras_module()
        keras.utils.set_random_seed(seed)
        return keras_model.build_model(n_inputs, n_outputs, hidden_units=hidden, head=head)

    def fit(self, model, x, y, work):
        model.fit(x, y, batch_size=work.batch_size, epochs=work.epochs, verbose=0,
                  validation_split=work.validation_split, shuffle=work.shuffle)

    def predict(self, model, x):
        return np.asarray(model.predict(x, batch_size=4096, verbose=0))

    def train_step(self, model, x, y):
        model.train_on_batch(x, y)


class SklearnPeer(Peer):
    """MLPClassifier with Adam and nothing else: no L2 penalty, no early stopping, no tolerance stop.

    It has no per-epoch validation pass: it trains on the first
    floor(N * (1 - validation_split)) rows only, the rows the others train on.
    """

    name, module, validates = "sklearn", "sklearn.neural_network", False

    def build(self, n_inputs, hidden, n_outputs, seed, head="sigmoid"):
        from sklearn.neural_network import MLPClassifier
        return MLPClassifier(hidden_layer_sizes=hidden, activation="relu", solver="adam", alpha=0.0,
                             learning_rate_init=LEARNING_RATE, epsilon=EPSILON, n_iter_no_change=10**9, tol=0.0,
                             early_stopping=False, random_state=seed)

    def fit(self, model, x, y, work):
        from sklearn.exceptions import ConvergenceWarning
        split = split_index(len(x), work.validation_split)
        model.set_params(batch_size=work.batch_size, max_iter=work.epochs, shuffle=work.shuffle)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)   # max_iter is reached on purpose
            # A 1-D y of class ids makes scikit-learn's output a softmax; a 2-D 0/1 y, one sigmoid per label.
            model.fit(x[:split], y[:split].argmax(axis=1) if work.head == "softmax" else y[:split])

    def predict(self, model, x):
        return model.predict_proba(x)

    def train_step(self, model, x, y):
        if hasattr(model, "coefs_"):
            model.partial_fit(x, y)
        else:   # the first call names the labels and makes the whole batch one update
            model.set_params(batch_size=len(x))
            model.partial_fit(x, y, classes=np.arange(y.shape[1]))


@dataclass
class FloorModel:
    weights: list            # npnet's initial weights, Keras order
    generator: Any           # where npnet's fit would draw its batch orders
    values: Any = None       # (P,) after fit: the trained parameters, get_weights() order


class FloorPeer(Peer):
    """benchmarks/floor.py: the tutorial's training inlined in the fewest NumPy calls, from npnet's initial state.

    It trains only ReLU nets with a sigmoid output (the tutorial's and the
    scaling sweeps'), as npnet would from the same seed: same weights, same batches.
    """

    name, module = "floor", "numpy"

    def build(self, n_inputs, hidden, n_outputs, seed, head="sigmoid"):
        if head != "sigmoid":
            raise ValueError(f"the floor trains only a sigmoid head, not {head!r}")
        model = NpnetPeer().build(n_inputs, hidden, n_outputs, seed)
        from npnet import utils
        generator = np.random.default_rng()
        generator.bit_generator.state = utils.random_generator().bit_generator.state
        return FloorModel(model.get_weights(), generator)

    def fit(self, model, x, y, work):
        from benchmarks import floor
        _, model.values = floor.floor_fit(x, y, work, model.weights, model.generator)

    def predict(self, model, x):
        from benchmarks import floor
        return floor.predict(model.values, [w.shape for w in model.weights], x)

    def train_step(self, model, x, y):
        raise NotImplementedError("the floor is a whole fit, not a step API")


@dataclass
class TorchModel:
    net: Any
    optimizer: Any
    loss: Any
    head: str = "sigmoid"


class TorchPeer(Peer):
    """PyTorch eager: nn.Sequential of Linear/ReLU, BCEWithLogitsLoss (or CrossEntropyLoss), Adam(eps=1e-7).

    Initialised as Keras initialises (Glorot-uniform kernels, zero biases), so
    the accuracies compare. The loop does what Keras's fit does: a shuffled
    copy per epoch, the loss and binary accuracy per batch, and a no-grad
    validation pass over the held-out rows after every epoch.
    """

    name, module = "torch", "torch"

    def configure(self, threads):
        import torch
        torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
        return f"torch: set_num_threads({torch.get_num_threads()}), interop threads {torch.get_num_interop_threads()}"

    def build(self, n_inputs, hidden, n_outputs, seed, head="sigmoid"):
        import torch
        torch.manual_seed(seed)
        sizes = [n_inputs, *hidden, n_outputs]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            linear = torch.nn.Linear(n_in, n_out)
            torch.nn.init.xavier_uniform_(linear.weight)
            torch.nn.init.zeros_(linear.bias)
            layers += [linear, torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1])   # the last ReLU goes: the loss takes logits
        optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, eps=EPSILON)
        # CrossEntropyLoss takes one-hot rows as class probabilities: the softmax head on logits
        loss = torch.nn.CrossEntropyLoss() if head == "softmax" else torch.nn.BCEWithLogitsLoss()
        return TorchModel(net, optimizer, loss, head)

    def _batches(self, x, y, batch_size: int, step: Callable, head: str) -> tuple[float, float]:
        """Run ``step(xb, yb) -> logits`` over the batches; mean loss and accuracy (binary, or of the argmax)."""
        import torch
        loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.int64)
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            logits, loss = step(xb, yb)
            loss_sum += loss.detach() * len(xb)
            if head == "softmax":
                correct += (logits.detach().argmax(dim=1) == yb.argmax(dim=1)).sum()
            else:
                correct += ((logits.detach() > 0) == (yb > 0.5)).sum()
        return loss_sum.item() / len(x), correct.item() / (len(y) if head == "softmax" else y.numel())

    def fit(self, model, x, y, work):
        import torch
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        split = split_index(len(x), work.validation_split)
        x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]

        def train(xb, yb):
            logits = model.net(xb)
            loss = model.loss(logits, yb)
            model.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            model.optimizer.step()
            return logits, loss

        def validate(xb, yb):
            logits = model.net(xb)
            return logits, model.loss(logits, yb)

        for _ in range(work.epochs):
            if work.shuffle:
                order = torch.randperm(split)
                x_epoch, y_epoch = x_train[order], y_train[order]
            else:
                x_epoch, y_epoch = x_train, y_train
            model.net.train()
            self._batches(x_epoch, y_epoch, work.batch_size, train, model.head)
            if len(x_val):
                model.net.eval()
                with torch.no_grad():
                    self._batches(x_val, y_val, work.batch_size, validate, model.head)

    def predict(self, model, x):
        import torch
        with torch.no_grad():
            logits = model.net(torch.from_numpy(x))
            return (torch.softmax(logits, dim=1) if model.head == "softmax" else torch.sigmoid(logits)).numpy()

    def train_step(self, model, x, y):
        import torch
        logits = model.net(torch.from_numpy(x))
        loss = model.loss(logits, torch.from_numpy(y))
        model.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.optimizer.step()
        loss.item()   # as train_on_batch, hand the loss back to Python


PEERS: dict[str, Peer] = {peer.name: peer for peer in (NpnetPeer(), KerasPeer(), SklearnPeer(), TorchPeer(),
                                                       FloorPeer())}


def get(names: list[str], threads: int | None = None, skip_missing: bool = True) -> tuple[list[Peer], list[str]]:
    """The named peers, imported and configured for ``threads``, and notes (thread settings, who was skipped).

    A peer whose framework is not installed is left out with a note
    (``skip_missing``), or raises ImportError.
    """
    unknown = [name for name in names if name not in PEERS]
    if unknown:
        raise ValueError(f"unknown peers {unknown}; choose from {sorted(PEERS)}")
    peers, notes = [], []
    for name in names:
        peer = PEERS[name]
        if not peer.available():
            if not skip_missing:
                raise ImportError(f"peer {name!r} needs the {peer.module!r} package")
            notes.append(f"{name}: not installed, left out")
            continue
        notes.append(peer.configure(threads))
        peers.append(peer)
    if threads is not None:   # after the imports, so that every library's pool is loaded and capped
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=threads)
    return peers, notes


def fit_runner(peer: Peer, x: np.ndarray, y: np.ndarray, work: Workload, seed: int) -> Callable[[], Callable[[], Any]]:
    """For ``harness.measure``: each call builds a fresh model (untimed) and returns its timed ``fit``."""
    def prepare():
        model = peer.build(x.shape[1], work.hidden, y.shape[1], seed, work.head)

        def run():
            peer.fit(model, x, y, work)
            return model
        return run
    return prepare
