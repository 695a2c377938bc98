"""Add your own activation and your own layer to npnet, and prove their gradients right
(docs/backprop.md#adding-a-layer).

LeakyReLU: y = z for z > 0, alpha * z otherwise, so dz = dy * (1 if y > 0 else alpha).
Like npnet's own activations, the derivative is written in terms of the output y:
for alpha > 0, y > 0 exactly when z > 0.

ScaleShift: a layer with parameters, y = x * gamma + beta per feature (gamma, beta (I,)),
through the layer protocol (npnet.layers.base): one class plus ``layers.register``, and
it trains, saves, loads and is gradient-checked like Dense.

Run: python examples/custom_layer.py
"""
import os
import tempfile

import numpy as np

import npnet
from npnet import gradcheck, layers
from npnet.activations import Activation
from npnet.layers import Dense, Layer, Weight
from npnet.models import load_model
from npnet.params import WorkArrays


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


@layers.register
class ScaleShift(Layer):
    """y = x * gamma + beta, feature by feature: x, y (N, I); gamma, beta (I,).

    dgamma = sum over n of dy * x; dbeta = sum over n of dy; dx = dy * gamma
    (docs/backprop.md#a-layer-with-parameters).
    """

    def weights_spec(self, input_dim):
        return [Weight("gamma", (input_dim,), np.ones), Weight("beta", (input_dim,), np.zeros)]   # (shape, dtype)

    def bind(self, input_dim, values, grads):
        super().bind(input_dim, values, grads)
        (self.gamma, self.beta), (self.dgamma, self.dbeta) = values, grads   # (I,) each; grads None when frozen
        self._work = WorkArrays(self.gamma.dtype, y=input_dim, dx=input_dim)

    def forward(self, x, training=False):
        y, _ = self._work.rows(len(x))
        self.x = x                                      # backward needs x for dgamma
        np.multiply(x, self.gamma, out=y)               # (N, I) = (N, I) * (I,)
        y += self.beta                                  # (N, I) += (I,)
        return y

    def backward(self, dy, need_dx=True):
        _, dx = self._work.rows(len(dy))
        if self.dgamma is not None:
            np.multiply(dy, self.x, out=dx)
            np.sum(dx, axis=0, out=self.dgamma)         # (I,) = sum over N of (N, I)
            np.sum(dy, axis=0, out=self.dbeta)          # (I,) = sum over N of (N, I)
        return np.multiply(dy, self.gamma, out=dx) if need_dx else None   # (N, I) = (N, I) * (I,)


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

    # 4. A layer with parameters of its own: alone, inside a model, and through save/load by its class name.
    report = gradcheck.check_layer(ScaleShift(), rng.normal(size=(6, 4)))
    print("\nScaleShift alone:\n" + str(report))
    report.assert_passed(1e-7)
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), ScaleShift(), Dense(8, activation="tanh"),
                              Dense(3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=5, verbose=0)                # moves gamma and beta away from 1 and 0
    report = gradcheck.check_model(model, x, y)
    print("\nModel 4-ScaleShift-8(tanh)-3:\n" + str(report))
    report.assert_passed(1e-6)
    path = os.path.join(tempfile.mkdtemp(), "scale_shift.npz")
    model.save(path)                                    # the file names the class: "ScaleShift"
    np.testing.assert_array_equal(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))
    print(f"saved and loaded by class name; registered layers: {', '.join(layers.names())}")

    # 5. A wrong backward is caught: forget the alpha slope (treat it as ReLU's).
    class WrongLeakyReLU(LeakyReLU):
        def backward(self, y, dy, out, z=None):
            return np.multiply(dy, y > 0, out=out)

    report = gradcheck.check_activation(WrongLeakyReLU(0.1), z)
    print(f"\nA backward without the alpha slope: max relative error {report.max_relative_error:.2g} (caught)")
    assert not report.passed(1e-7)


if __name__ == "__main__":
    main()
