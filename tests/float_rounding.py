"""How far two float computations of the same forward pass may be apart, from the arithmetic alone.

BLAS promises no summation order: the same row gives different last bits in a
batch of 32 and of 250, and which rows differ depends on the CPU's kernel. Tests
that compare predictions computed in different batches (or by different
libraries) use the bound below instead of bit equality.

The bound is the textbook forward error analysis (Higham, Accuracy and Stability
of Numerical Algorithms, 2nd ed., section 3.1), with u = 2**-24 in float32 and
2**-53 in float64:
- A dot product of n terms computed in ANY order -- sequential, blocked,
  pairwise, with or without FMA -- is within gamma_n * sum|terms| of the exact
  one, gamma_n = n u / (1 - n u) (Higham (3.5) and its pairwise variant: each
  term takes at most one rounding of its product and n - 1 of the additions it
  goes through). Dense's z = h @ W + b adds the bias, one more rounding: n = I + 1.
- An input already off by e (elementwise) moves z by at most |e| @ |W|.
- relu and linear are exact and 1-Lipschitz; tanh is 1-Lipschitz and sigmoid
  1/4-Lipschitz, and each is evaluated within 8u of its value: NumPy's float32
  exp/tanh are within 3 ulp (6u), then 1 + e and the reciprocal round once each;
  a relative error in exp(-z) reaches y = 1/(1 + exp(-z)) scaled by exp(-z)/(1 + exp(-z)) < 1.
Each computation is then within ``bound`` of the exact forward pass, so two
computations are within 2 * bound of each other. The magnitudes the bound is
built from come from a float64 forward pass; their own error (relative 1e-15 at
most here) changes the bound only in its second order.
"""
from __future__ import annotations

import numpy as np

# (Lipschitz constant, relative evaluation error in units of u) per activation.
_ACTIVATION_ERROR = {"linear": (1.0, 0.0), "relu": (1.0, 0.0), "sigmoid": (0.25, 8.0), "tanh": (1.0, 8.0)}


def gamma(n: int, dtype) -> float:
    """gamma_n = n u / (1 - n u): the relative error bound of an n-term sum, any order."""
    u = np.finfo(dtype).eps / 2
    return n * u / (1 - n * u)


def forward_error_bound(model, x: np.ndarray, logits: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """For ``model.predict(x)``: (exact outputs (N, K) in float64, elementwise bound (N, K) on
    |computed - exact|, headroom). With ``logits``, the last layer's z instead of its outputs.

    headroom = the dtype's largest finite value / the largest (1 + gamma_n) * sum|terms| of any
    Dense sum. Above 1, no partial sum can overflow in any order, and the bound holds for any
    summation order and batching; at or below 1, some order may overflow to +-inf or NaN.
    """
    dtype = np.dtype(model.dtype)
    u = np.finfo(dtype).eps / 2
    h = np.asarray(x, dtype).astype(np.float64)   # (N, I): the model first casts x to its dtype, exactly
    error = np.zeros_like(h)                       # (N, I): the input carries no error
    largest_sum = 0.0
    for index, layer in enumerate(model.layers):
        w = layer.kernel.astype(np.float64)        # (I, O)
        b = np.zeros(w.shape[1]) if layer.bias is None else layer.bias.astype(np.float64)   # (O,)
        z = h @ w + b                                                           # (N, O) exact
        g = gamma(w.shape[0] + 1, dtype)
        magnitude = (np.abs(h) + error) @ np.abs(w) + np.abs(b)                 # (N, O): sum|terms|, worst case
        largest_sum = max(largest_sum, (1 + g) * magnitude.max(initial=0.0))
        z_error = error @ np.abs(w) + g * magnitude                             # (N, O)
        if logits and index == len(model.layers) - 1:
            return z, z_error, float(np.finfo(dtype).max / largest_sum)
        lipschitz, evaluation = _ACTIVATION_ERROR[layer.activation.name]
        h = layer.activation(z)                                                 # (N, O), float64
        error = lipschitz * z_error + evaluation * u * np.abs(h)                # (N, O)
    return h, error, float(np.finfo(dtype).max / largest_sum) if largest_sum else np.inf


def assert_equal_to_rounding(actual: np.ndarray, desired: np.ndarray, model, x: np.ndarray) -> None:
    """Two computations of ``model.predict(x)`` (different batches, orders or BLAS kernels) agree within 2 * bound."""
    _, bound, headroom = forward_error_bound(model, x)
    assert headroom > 1, f"some sum can overflow {model.dtype} (headroom {headroom:.3g}): no bound applies"
    difference = np.abs(np.asarray(actual, np.float64) - np.asarray(desired, np.float64))
    worst = np.unravel_index(np.argmax(difference - 2 * bound), difference.shape)
    assert np.all(difference <= 2 * bound), (f"entry {worst} differs by {difference[worst]:.3g}, more than "
                                             f"float rounding allows ({2 * bound[worst]:.3g})")


def perturbation_scale(f, x: np.ndarray, value: np.ndarray) -> np.ndarray:
    """|f(x)| + sum_m |df/dx_m| max(|x_m|, 1), elementwise over f's output, from float64 central differences.

    ``f`` maps a float64 array of x's shape (N, K) to one of ``value``'s shape, which may
    mix the columns of a row (softmax) but never the rows. The scale of
    ``agreement_bound``; the derivatives need only their first digit, so the step
    h = 1e-5 max(|x|, 1) (truncation error O(h^2), rounding 1e-11 relative) is ample.
    """
    x = np.asarray(x, np.float64)
    reach = np.maximum(np.abs(x), 1.0)                             # (N, K)
    scale = np.abs(np.asarray(value, np.float64))
    for m in range(x.shape[-1]):
        step = np.zeros_like(x)
        step[..., m] = 1e-5 * reach[..., m]
        derivative = (f(x + step) - f(x - step)) / (2 * step[..., m:m + 1])   # d f / d x[:, m], row by row
        scale = scale + np.abs(derivative) * reach[..., m:m + 1]
    return scale


def agreement_bound(scale: np.ndarray, dtype) -> np.ndarray:
    """How far two libraries' evaluations of the same elementwise-or-row formula may be apart: 16 u scale.

    Model (mixed forward-backward error): a library computes f with a few
    operations, each within 3 ulp (6u, as for exp/tanh above), so its result is
    f(x') (1 + d) with |d| <= 8u and x' within 8u max(|x|, 1) of x entry by entry
    (the max(., 1) is the ulp of 1 lost when a kernel forms exp(z) - 1 or 1 - y).
    To first order |computed - f(x)| <= 8u (|f| + sum_m |df/dx_m| max(|x_m|, 1)) =
    8u * ``perturbation_scale``; two libraries: 16u times it.
    """
    return 16 * (np.finfo(dtype).eps / 2) * scale


def assert_within(ours, theirs, bound, what: str) -> None:
    """|ours - theirs| <= bound entry by entry (scalars too), naming the worst entry if not."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    difference = np.abs(ours - theirs)
    excess = difference - bound
    worst = np.unravel_index(np.argmax(excess), np.shape(excess))
    assert np.all(excess <= 0), (f"{what}: entry {worst} differs by {difference[worst]:.3g}, more than rounding "
                                 f"allows ({np.broadcast_to(bound, excess.shape)[worst]:.3g}): "
                                 f"{ours[worst]!r} vs {theirs[worst]!r}")


def first_gradient_bound(x1: np.ndarray, y: np.ndarray, kernels: list[np.ndarray],
                         dtype, sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For a ReLU net whose every layer takes [h 1] (the bias trick) with a sigmoid output and mean binary
    crossentropy: the gradient of its flat [W; b] kernels (P,), computed exactly (in float64) from
    [x 1] (N, I+1), y (N, K) and ``kernels`` [(I+1, O)], and an elementwise bound on |computed - exact|
    for any computation of it in ``dtype``, whatever the order of its sums.

    The bound above (gamma_n * sum|terms| a product, an input's error E moving a product by E |W|),
    carried through the backward pass too: where the exact z is within its error of 0 the computed ReLU
    mask may differ, so the bound takes the whole |dh| there; sigmoid is 1/4-Lipschitz and evaluated
    within 8u; dz = (p - y) * s, s = 1/(N K) in ``dtype``, rounds twice, and once more with a sample's
    weight (``sample_weight`` (N,), scaling its row as Keras's mean does). Worst cases add up over every
    input of a layer, so for wide layers in float32 the bound can exceed the gradients themselves; in
    float64 it stays near 1e-7 of them (benchmarks' 512-256-128 net). The float64 computation's own
    error is left out: compare two computations in float64 within twice the bound.
    """
    u = np.finfo(dtype).eps / 2

    def gamma_of(n: int) -> float:
        return n * u / (1 - n * u)

    x1, y = np.asarray(x1, np.float64), np.asarray(y, np.float64)
    kernels = [np.asarray(k, np.float64) for k in kernels]
    a, a_error, saved = x1, np.zeros_like(x1), []
    for kernel in kernels:
        z = a @ kernel
        z_error = a_error @ np.abs(kernel) + gamma_of(len(kernel)) * (np.abs(a) @ np.abs(kernel))
        saved.append((a, a_error, z, z_error))
        ones = np.ones((len(z), 1))
        a, a_error = np.hstack([np.maximum(z, 0), ones]), np.hstack([z_error, 0 * ones])
    _, _, z, z_error = saved[-1]                                               # the logits
    p = 1 / (1 + np.exp(-z))
    scale = float(np.dtype(dtype).type(1.0 / y.size))                         # the step's 0-d 1/(N K)
    dz = (p - y) * scale
    dz_error = scale * (0.25 * z_error + 8 * u * p + u * np.abs(p - y)) + u * np.abs(dz)
    if sample_weight is not None:
        weights = np.asarray(sample_weight, np.float64)[:, None]
        dz = dz * weights
        dz_error = dz_error * np.abs(weights) + u * np.abs(dz)
    grads, bounds = [], []
    for index in range(len(kernels) - 1, -1, -1):
        below, below_error, _, _ = saved[index]                              # the layer's input [h 1]
        grads.insert(0, (below.T @ dz).ravel())
        bounds.insert(0, (below_error.T @ np.abs(dz) + np.abs(below).T @ dz_error + below_error.T @ dz_error
                          + gamma_of(len(dz)) * (np.abs(below).T @ np.abs(dz))).ravel())
        if index == 0:
            break
        kernel = kernels[index][:-1]                                         # W (I, O): the bias row has no input
        dh = dz @ kernel.T
        dh_error = dz_error @ np.abs(kernel.T) + gamma_of(kernel.shape[1]) * (np.abs(dz) @ np.abs(kernel.T))
        _, _, z_below, z_below_error = saved[index - 1]
        uncertain = np.abs(z_below) <= z_below_error                          # the computed mask may differ here
        dz = np.where(z_below > 0, dh, 0.0)
        dz_error = np.where(z_below > 0, dh_error, 0.0) + np.where(uncertain, np.abs(dh) + dh_error, 0.0)
    return np.concatenate(grads), np.concatenate(bounds)
