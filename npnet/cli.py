"""``npnet`` on the command line: ``npnet demo`` trains the tutorial's model."""
from __future__ import annotations

import argparse
import time

from npnet import tutorial, utils


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="npnet", description="npnet: a NumPy multilabel network with Keras's API.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="train the tutorial's model on the tutorial's data (needs scikit-learn)")
    run.add_argument("--epochs", type=int, default=tutorial.N_EPOCHS, help="passes over the data (default 50)")
    run.add_argument("--batch-size", type=int, default=tutorial.BATCH_SIZE, help="samples per step (default 250)")
    run.add_argument("--seed", type=int, default=tutorial.RANDOM_STATE, help="npnet's random seed (default 42)")
    run.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="0 silent, 1 bar, 2 a line per epoch")
    run.set_defaults(handler=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)
