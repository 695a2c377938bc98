"""The parity report: npnet and Keras trained side by side, for each task of ``reference.tasks``.

Both start from the same initial weights and see the same batches in the same
order (shuffle=False): the tutorial's multilabel problem (50 epochs of its
settings), scikit-learn's digits as a 10-class softmax problem and its
diabetes data as a regression. Prints, per task, a table of per-epoch loss
and metric for both sides and the largest differences, the test scores and
the largest weight difference; writes a PNG of the loss curves overlaid.
Run from the repository root:

    .venv/bin/python -m reference.parity [--task tutorial|digits|diabetes|all] [--epochs N] [--seed 0]
                                         [--png parity.png | --png-dir docs]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from reference import tasks


def png_name(task: tasks.Task) -> str:
    """docs/parity.png for the tutorial (the README's figure), parity_<task>.png for the others."""
    return "parity.png" if task.name == "tutorial" else f"parity_{task.name}.png"


def table(result: dict, task: tasks.Task) -> str:
    """Markdown: one row per epoch, both sides, then the largest differences and the final scores."""
    ours, theirs = result["npnet"], result["keras"]
    keys = ["loss", task.metric, "val_loss", f"val_{task.metric}"]
    header = "| epoch | " + " | ".join(f"npnet {k} | Keras {k}" for k in keys) + " |"
    rows = [f"### {task.name}: {task.description}", "", header, "|" + "---|" * (1 + 2 * len(keys))]
    for epoch in range(len(ours["history"]["loss"])):
        cells = [f"{ours['history'][k][epoch]:.6f} | {theirs['history'][k][epoch]:.6f}" for k in keys]
        rows.append(f"| {epoch + 1} | " + " | ".join(cells) + " |")
    differences = {k: np.max(np.abs(np.subtract(ours["history"][k], theirs["history"][k]))) for k in keys}
    weight_difference = max(float(np.max(np.abs(a - b))) for a, b in zip(ours["weights"], theirs["weights"]))
    rows += ["", "| | npnet | Keras | max difference |", "|---|---|---|---|"]
    rows += [f"| per-epoch {k} | | | {differences[k]:.2e} |" for k in keys]
    rows += [f"| test {label} | {ours['test'][i]:.6f} | {theirs['test'][i]:.6f} | "
             f"{abs(ours['test'][i] - theirs['test'][i]):.2e} |" for i, label in enumerate(("loss", task.metric_label))]
    rows += [f"| final weights | | | {weight_difference:.2e} |",
             f"| fit time (s) | {ours['seconds']:.2f} | {theirs['seconds']:.2f} | |"]
    return "\n".join(rows)


def plot(result: dict, task: tasks.Task, path: str | Path) -> None:
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
    axes.set(xlabel="epoch", ylabel=task.loss.replace("_", " "),
             title=f"{task.name}, same initial weights and batches: npnet vs Keras")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference.parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=[*tasks.TASKS, "all"], default="tutorial",
                        help="which task (default: the tutorial); 'all' runs every one")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for both (default: the task's own)")
    parser.add_argument("--seed", type=int, default=0, help="npnet seed for the shared initial weights (default 0)")
    parser.add_argument("--png", default=None, help="where to write the loss curves of one task (default parity.png)")
    parser.add_argument("--png-dir", default=None,
                        help="write each task's curves here as parity.png (tutorial) or parity_<task>.png")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be >= 1")
    selected = list(tasks.TASKS.values()) if args.task == "all" else [tasks.TASKS[args.task]]
    if args.png and (len(selected) > 1 or args.png_dir):
        parser.error("--png names one file: use --png-dir with --task all")
    for task in selected:
        result = tasks.run(task, args.epochs, args.seed)
        path = Path(args.png) if args.png else Path(args.png_dir or ".") / png_name(task)
        print(table(result, task))
        plot(result, task, path)
        print(f"\nloss curves: {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
