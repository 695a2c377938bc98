"""What each tool shows of a planted bug: the loss curve, the gradient check, the trace against Keras, the parity check.

``report(bug)`` runs them all on a small float64 network (4 inputs -> 4 -> 4
-> 4 sigmoid outputs, every W square so that a transposed dW runs instead of
crashing; 64 samples; full-batch steps) and returns the text docs/bugs.md
quotes. The loss curve comes from ``fit`` (its fast path); the other tools
take one batch at a time (the textbook path, as ``train_on_batch``). The
trace and the parity check need the reference extra (TensorFlow).
Numbers are printed to 2 or 3 significant digits: float64 results, far from
the rounding that differs between CPUs.
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator

import numpy as np

from npnet import backend, gradcheck, layers, optimizers
from npnet.bugs import Bug
from npnet.callbacks import LambdaCallback
from npnet.layers import Dense, Input
from npnet.models import Sequential
from npnet.training.divergence import TrainingDivergedError

SAMPLES, FEATURES, LABELS = 64, 4, 4
STEPS, CURVE_EVERY, STEPS_BEFORE_TRACE = 30, 10, 3
PARITY_STEPS = 3
# An array differs from Keras's when max |npnet - Keras| exceeds this fraction of its largest entry:
# float64 rounding through a few layers stays far below it (measured: 5.1e-15 at most, for this network
# with relu and sigmoid, Adam and SGD with momentum, traced after 3 steps).
DIFFERS = 1e-9


@contextlib.contextmanager
def _float64() -> Iterator[None]:
    floatx = backend.floatx()
    backend.set_floatx("float64")
    try:
        yield
    finally:
        backend.set_floatx(floatx)


def catalogue_data(one_hot: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """x (64, 4) standard normal; y (64, 4) from a noisy linear rule on x.

    Multilabel targets (score > 0), or for a softmax output one-hot rows (the class of the largest score).
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, FEATURES))
    scores = x @ rng.standard_normal((FEATURES, LABELS)) + 0.5 * rng.standard_normal((SAMPLES, LABELS))
    if one_hot:
        return x, np.eye(LABELS)[np.argmax(scores, axis=1)]
    return x, (scores > 0).astype(np.float64)


def catalogue_model(activation: str = "relu", optimizer: dict[str, Any] | None = None, output: str = "sigmoid",
                    loss: str = "binary_crossentropy", inserted: tuple[dict[str, Any], ...] = ()) -> Sequential:
    """The float64 network every bug is shown on, with the same initial weights each time (compiled, built).

    ``inserted``: layer configs (``npnet.layers.serialize`` form) placed between the two hidden layers.
    """
    with _float64():
        model = Sequential([Input(shape=(FEATURES,)), Dense(4, activation=activation, name="hidden_1"),
                            *[layers.deserialize(config) for config in inserted],
                            Dense(4, activation=activation, name="hidden_2"),
                            Dense(LABELS, activation=output, name="output")])
        model.compile(optimizer=optimizers.from_config(optimizer or {"name": "adam", "learning_rate": 0.03}),
                      loss=loss)
        model.build((None, FEATURES))
    rng = np.random.default_rng(1)
    for layer in model.layers:   # the Dense layers; other layers keep their initializers' values
        if isinstance(layer, Dense):
            layer.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in layer.get_weights()])
    return model


def setup(bug: Bug) -> tuple[Sequential, np.ndarray, np.ndarray]:
    """The bug's network and its data."""
    return catalogue_model(**bug.model), *catalogue_data(one_hot=bug.model.get("output") == "softmax")


def loss_curve(bug: Bug, planted: bool = True) -> list[float]:
    """The loss before steps 0, CURVE_EVERY, ..., STEPS of ``fit`` on the full batch, with ``bug`` planted or not.

    One epoch is one step, and an epoch's loss is that of the outputs its step
    computed, before its update, in training mode. ``fit`` runs its fast path
    (the bias trick, ``Loss.gradient``): the curve shows what a learner's fit
    shows. From a non-finite loss on (fit stops there) the curve stays at that
    value. Not planted, it is the real code on the bug's network and
    optimizer: the curve to compare with.
    """
    model, x, y = setup(bug)
    losses: list[float] = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(float(logs["loss"])))
    with bug.planted() if planted else contextlib.nullcontext():
        try:
            model.fit(x, y, batch_size=SAMPLES, epochs=STEPS + 1, shuffle=False, verbose=0, callbacks=[record])
        except TrainingDivergedError as error:
            losses += [error.loss] * (STEPS + 1 - len(losses))
    return losses[::CURVE_EVERY]


def _trend(losses: list[float]) -> str:
    if not np.isfinite(losses).all():
        return "diverges"
    return "goes down" if losses[-1] < losses[0] else "goes up"


def describe_curve(bug: Bug) -> str:
    right, wrong = loss_curve(bug, planted=False), loss_curve(bug)
    optimizer = catalogue_model(**bug.model).optimizer.name
    rows = [f"fit's loss ({optimizer}, full batch of {SAMPLES})" + "".join(f"{f'step {step}':>10}" for step in
                                                                    range(0, STEPS + 1, CURVE_EVERY))]
    for label, losses in (("  the real code", right), ("  with the bug", wrong)):
        rows.append(f"{label:<{len(rows[0]) - 10 * len(losses)}}" + "".join(f"{loss:>10.4g}" for loss in losses)
                    + f"  {_trend(losses)}")
    return "\n".join(rows)


class _SameDraws:
    """A Dropout's generator that gives the same uniform draws at every call: the same mask at every pass."""

    def __init__(self, seed: int):
        self.rng, self.draws = np.random.default_rng(seed), {}

    def random(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if shape not in self.draws:
            self.draws[shape] = self.rng.random(shape)
        return self.draws[shape].astype(dtype)


def _dropouts(model: Sequential) -> list[Any]:
    return [layer for layer in model.layers if getattr(layer, "rate", 0.0) > 0.0]


def describe_gradcheck(bug: Bug) -> str:
    """``gradcheck.check_model`` on the fresh model with the bug planted: passes, or the worst entry.

    Finite differences need one function of the weights, so each Dropout
    draws one mask for the whole check (as tests/unit/layers/test_dropout.py does).
    """
    model, x, y = setup(bug)
    for layer in _dropouts(model):
        layer._rng = _SameDraws(seed=2)
    with bug.planted():
        report = gradcheck.check_model(model, x, y)
    if report.passed(1e-5):
        return "gradcheck.check_model: passes (every entry within 1e-5 relative error, or within rounding noise)"
    worst = max(report.checks, key=lambda check: check.worst(check.noise)[1])
    index, relative = worst.worst(worst.noise)
    return (f"gradcheck.check_model: fails at {worst.name}{list(index)}: analytic {worst.analytic[index]:.3g}, "
            f"numerical {worst.numerical[index]:.3g} (relative error {relative:.2g})")


def _computation_order(trace: Any) -> list[str]:
    """"layer/array" keys in the order a step computes them: forward up, backward down, then the updates."""
    forward = [f"{layer.name}/{name}" for layer in trace.layers for name in ("x", "z", "y") if name in layer.arrays]
    backward = [f"{layer.name}/{name}" for layer in reversed(trace.layers) for name in layer.arrays
                if name not in ("x", "z", "y") and not name.startswith("update_")]
    updates = [f"{layer.name}/{name}" for layer in trace.layers for name in layer.arrays if name.startswith("update_")]
    return forward + backward + updates


def traced(bug: Bug) -> tuple[Any, dict[str, float]]:
    """``model.trace`` of step 4 (after 3 buggy training steps) and its differences from Keras on the same state."""
    from npnet.testing import compare_trace_with_keras

    model, x, y = setup(bug)
    with bug.planted():
        for _ in range(STEPS_BEFORE_TRACE):
            model.train_on_batch(x, y)
        trace = model.trace(x, y)
    return trace, compare_trace_with_keras(trace)


def plot(bug: Bug, path: str) -> None:
    """``traced(bug)`` drawn by ``npnet.trace_plot.plot_trace``: the bug's arrays in red (a PNG at ``path``)."""
    from npnet.trace_plot import plot_trace

    trace, differences = traced(bug)
    plot_trace(trace, path, differences)


def describe_trace(bug: Bug) -> str:
    """The first array of ``traced(bug)``, in the order the step computes them, that differs from Keras's."""
    trace, differences = traced(bug)
    arrays = {f"{layer.name}/{name}": array for layer in trace.layers for name, array in layer.arrays.items()}
    differing = [key for key in _computation_order(trace) if key in differences
                 and differences[key] > DIFFERS * np.max(np.abs(arrays[key]))]
    head = f"trace of step {STEPS_BEFORE_TRACE + 1} vs Keras (compare_trace_with_keras): "
    if not differing:
        return head + f"all {len(differences)} arrays agree to float64 rounding"
    first = differing[0]
    return (head + f"first difference in {first}, max |npnet - Keras| {differences[first]:.2g} "
            f"(its largest entry {np.max(np.abs(arrays[first])):.2g}); {len(differing)} of {len(differences)} "
            f"arrays differ")


def describe_parity(bug: Bug) -> str:
    """``npnet.testing.assert_matches_keras`` with the bug planted: passes, or its message."""
    from npnet.testing import assert_matches_keras

    model, x, y = setup(bug)
    if _dropouts(model):
        return "assert_matches_keras: not comparable (Keras's Dropout draws masks of its own)"
    try:
        with bug.planted():
            assert_matches_keras(model, x, y, steps=PARITY_STEPS)
    except AssertionError as error:   # its numbers to 3 significant digits, as everywhere on the page
        message = re.sub(r"-?\d+\.\d+(?:e[-+]\d+)?", lambda number: f"{float(number.group()):.3g}",
                         str(error).splitlines()[0])
        return f"assert_matches_keras: {message}"
    return f"assert_matches_keras: passes ({PARITY_STEPS} steps)"


def report(bug: Bug) -> str:
    """Everything docs/bugs.md quotes for ``bug``: the curve, gradcheck, the trace against Keras, the parity check."""
    return "\n".join([describe_curve(bug), describe_gradcheck(bug), describe_trace(bug), describe_parity(bug)])
