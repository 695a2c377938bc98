"""Follow the chain rule with real numbers: one training step of the tutorial's network, layer by layer.

Prints each layer's z, y = f(z), the gradient dy arriving from above,
dz = dy * f'(z), dW = x^T dz, db and the Adam update, for the first batch of
250 tutorial samples (docs/backprop.md#tracing-a-step). With --compare-keras
(needs the reference extra) it recomputes every array with Keras's
tf.GradientTape on the same weights and prints the largest difference.

Run: python examples/trace.py [--compare-keras]
"""
import argparse

import npnet
from npnet import tutorial


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-keras", action="store_true", help="check every array against Keras")
    args = parser.parse_args(argv)

    npnet.utils.set_random_seed(tutorial.RANDOM_STATE)
    data = tutorial.tutorial_data()
    model = tutorial.tutorial_model()
    trace = model.trace(data.x_train[:tutorial.BATCH_SIZE], data.y_train[:tutorial.BATCH_SIZE])
    print(trace)
    if args.compare_keras:
        differences = trace.compare_with_keras()
        worst = max(differences, key=differences.get)
        print(f"\nKeras on the same weights: {len(differences)} arrays compared, largest difference "
              f"{differences[worst]:.2g} ({worst})")


if __name__ == "__main__":
    main()
