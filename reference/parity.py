"""The parity report: npnet and Keras trained side by side on the tutorial's data.

Both start from the same initial weights and see the same batches in the same
order (shuffle=False), 50 epochs of the tutorial's settings. Prints a table of
per-epoch loss and accuracy for both and the largest differences, the final
test scores and the largest weight difference; writes a PNG of the loss
curves overlaid. Run from the repository root:

    .venv/bin/python -m reference.parity [--epochs 50] [--seed 0] [--png parity.png]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import npnet
from npnet import tutorial
from reference import keras_model

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def run(epochs: int, seed: int) -> dict:
    """Train both from the same start; return their histories, test scores, weights and fit times."""
    data = tutorial.tutorial_data()
    npnet.utils.set_random_seed(seed)
    model = tutorial.tutorial_model()
    keras_run = keras_model.train(seed=seed, epochs=epochs, initial_weights=model.get_weights(), shuffle=False,
                                  data=data)
    start = time.perf_counter()
    history = model.fit(data.x_train, data.y_train, batch_size=tutorial.BATCH_SIZE, epochs=epochs, verbose=0,
                        validation_split=tutorial.VALIDATION_SPLIT, shuffle=False)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=tutorial.BATCH_SIZE, verbose=0)
    return {"npnet": {"history": history.history, "test": (test_loss, test_accuracy), "seconds": seconds,
                      "weights": model.get_weights()},
            "keras": {"history": keras_run.history, "test": (keras_run.test_loss, keras_run.test_accuracy),
                      "seconds": keras_run.seconds, "weights": keras_run.weights}}


def table(result: dict) -> str:
    """Markdown: one row per epoch, both sides, then the largest differences and the final scores."""
    ours, theirs = result["npnet"], result["keras"]
    header = "| epoch | " + " | ".join(f"npnet {k} | Keras {k}" for k in KEYS) + " |"
    rows = [header, "|" + "---|" * (1 + 2 * len(KEYS))]
    for epoch in range(len(ours["history"]["loss"])):
        cells = [f"{ours['history'][k][epoch]:.6f} | {theirs['history'][k][epoch]:.6f}" for k in KEYS]
        rows.append(f"| {epoch + 1} | " + " | ".join(cells) + " |")
    differences = {k: np.max(np.abs(np.subtract(ours["history"][k], theirs["history"][k]))) for k in KEYS}
    weight_difference = max(float(np.max(np.abs(a - b))) for a, b in zip(ours["weights"], theirs["weights"]))
    rows += ["", "| | npnet | Keras | max difference |", "|---|---|---|---|"]
    rows += [f"| per-epoch {k} | | | {differences[k]:.2e} |" for k in KEYS]
    rows += [f"| test loss | {ours['test'][0]:.6f} | {theirs['test'][0]:.6f} | "
             f"{abs(ours['test'][0] - theirs['test'][0]):.2e} |",
             f"| test binary accuracy | {ours['test'][1]:.6f} | {theirs['test'][1]:.6f} | "
             f"{abs(ours['test'][1] - theirs['test'][1]):.2e} |",
             f"| final weights | | | {weight_difference:.2e} |",
             f"| fit time (s) | {ours['seconds']:.2f} | {theirs['seconds']:.2f} | |"]
    return "\n".join(rows)


def plot(result: dict, path: str) -> None:
    """Train and validation loss of both, overlaid: Keras solid and wide, npnet dashed on top."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for key, colour in (("loss", "tab:blue"), ("val_loss", "tab:orange")):
        epochs = np.arange(1, len(result["keras"]["history"][key]) + 1)
        axes.plot(epochs, result["keras"]["history"][key], color=colour, linewidth=5, alpha=0.35,
                  label=f"Keras {key}")
        axes.plot(epochs, result["npnet"]["history"][key], color=colour, linestyle="--", linewidth=1.5,
                  label=f"npnet {key}")
    axes.set(xlabel="epoch", ylabel="binary crossentropy",
             title="Tutorial model, same initial weights and batches: npnet vs Keras")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference.parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=tutorial.N_EPOCHS, help="epochs for both (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="npnet seed for the shared initial weights (default 0)")
    parser.add_argument("--png", default="parity.png", help="where to write the loss curves (default parity.png)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    result = run(args.epochs, args.seed)
    print(table(result))
    plot(result, args.png)
    print(f"\nloss curves: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
