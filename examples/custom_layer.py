"""Add your own activation to npnet and prove its gradient right (docs/backprop.md#adding-a-layer).

LeakyReLU: y = z for z > 0, alpha * z otherwise, so dz = dy * (1 if y > 0 else alpha).
Like npnet's own activations, the derivative is written in terms of the output y:
for alpha > 0, y > 0 exactly when z > 0.

Run: python examples/custom_layer.py
"""
import numpy as np

import npnet
from npnet import gradcheck
from npnet.activations import Activation
from npnet.layers import Dense


class LeakyReLU(Activation):
    """y = max(z, alpha * z) for 0 < alpha < 1; dz = dy * where(y > 0, 1, alpha)."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha

    def forward(self, z, out):
        return np.maximum(z, self.alpha * z, out=out)   # for 0 < alpha < 1; out may be z itself

    def backward(self, y, dy, out, z=None):
        slope = np.where(y > 0, 1.0, self.alpha)
        return np.multiply(dy, slope, out=out)


def main() -> None:
    npnet.backend.set_floatx("float64")          # finite differences need float64
    rng = np.random.default_rng(0)
    leaky = LeakyReLU(alpha=0.1)

    # 1. The activation alone, at points away from the kink at 0.
    z = rng.normal(size=(5, 4))
    z[np.abs(z) < 1e-3] = 0.5
    report = gradcheck.check_activation(leaky, z)
    print("LeakyReLU alone:\n" + str(report))
    report.assert_passed(1e-7)

    # 2. A Dense layer using it: kernel, bias and input gradients.
    report = gradcheck.check_layer(Dense(3, activation=leaky), rng.normal(size=(6, 4)))
    print("\nDense + LeakyReLU:\n" + str(report))
    report.assert_passed(1e-7)

    # 3. A whole model with the tutorial's output and loss, every parameter.
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(8, activation=leaky), Dense(3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = rng.normal(size=(16, 4)), (rng.random((16, 3)) < 0.5).astype(float)
    report = gradcheck.check_model(model, x, y)
    print("\nModel 4-8-3 with LeakyReLU:\n" + str(report))
    report.assert_passed(1e-6)

    # 4. A wrong backward is caught: forget the alpha slope (treat it as ReLU's).
    class WrongLeakyReLU(LeakyReLU):
        def backward(self, y, dy, out, z=None):
            return np.multiply(dy, y > 0, out=out)

    report = gradcheck.check_activation(WrongLeakyReLU(0.1), z)
    print(f"\nA backward without the alpha slope: max relative error {report.max_relative_error:.2g} (caught)")
    assert not report.passed(1e-7)


if __name__ == "__main__":
    main()
