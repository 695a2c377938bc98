"""The floor you actually reach: the tutorial's training in the fastest NumPy we know, timed against npnet.

    python -m benchmarks.floor [--repeats 5] [--threads N] [--check] [--write-results]

``floor_fit`` trains exactly what npnet's ``fit`` trains -- the same initial
weights, the same batch order, Keras's Adam in float32, and the training and
validation loss and binary accuracy of every epoch -- written as one flat
loop over preallocated arrays, with no layers, checks or callbacks. It makes
CALLS_PER_STEP (34) NumPy calls per training step (in-place operators count) and
about 40 more per epoch (shuffle, loss and accuracy, validation). Its ingredients:

- **bias folding** ("the bias trick"): every hidden activation buffer carries
  a constant-1 row and every kernel is stored as (I+1, O) with the bias as
  its last row (the flat layout of W followed by b is exactly that array),
  so one product gives ``x W + b`` and ``dW`` and ``db`` come out of one
  product ``[x 1]^T dz``;
- **feature-major hidden activations**: ``[h 1]^T`` (O+1, N), each unit's
  values over the batch contiguous, and every product taken in that
  orientation, ``z^T = [W; b]^T [h 1]^T``: OpenBLAS runs these narrow products
  1.3x to 2.3x faster with the batch as the long side
  (docs/backprop.md#column-major-products; npnet's Dense does the same);
- the training loss and accuracy once per epoch, from the logits and
  probabilities that the steps write into per-epoch buffers anyway;
- ReLU as ``np.maximum(z, zeros)`` against a preallocated zero array, over
  the whole activation buffer including its row of ones (a Python scalar
  takes NumPy's slow scalar path);
- all ReLU masks in one ``np.greater`` over the buffer that holds the three
  hidden activations back to back (into booleans, then one copy to 0.0/1.0:
  NumPy's comparison writing floats directly is slower than both; a
  ``np.copyto(dz, 0, where=...)`` instead of the multiply is 10x slower on real,
  half-dead masks); npnet's fit does the same (``npnet.training.relu_masks``),
  and as there, from ``BOOLEAN_MASKS_MIN`` entries on the products take the
  booleans themselves (the compute-bound problem's steps);
- Adam's two moments as one stacked (2, P) array, updated by 4 calls, with
  ``1 - beta`` as a full (2, P) array (a (2, 1) column broadcasts 2.5x slower);
  npnet's Adam does the same up to ``Adam.STACKED_MAX`` parameters;
- the validation pass as one batch; every view, constant and Adam step size
  precomputed, no slicing or Python scalar arithmetic per step; the shuffle's
  ``np.take(..., mode="clip")``, which writes straight into its output (the
  default mode buffers it: 2x slower);
- ``log(1 + e)`` for ``log1p(e)`` in the loss value, e = exp(-|z|) in (0, 1]:
  fl(1 + e) is off by at most 2^-24 relative, so log(1 + e) is off by at most
  2^-24 = 6.0e-8 absolute (plus log's own rounding), and an entry's loss
  max(z, 0) - z y + log(1 + e) by at most one rounding of its own value more
  (the gradient never uses it). It saves the time of log1p where NumPy has no
  vector loop for it (AVX2 machines); on AVX-512 log1p is as fast.

``--check`` runs npnet's fit from the same state and prints the largest
differences: the training arithmetic is the same products in the same
orientation, so after 50 epochs the weights were npnet's to the bit on the
machine of benchmarks/RESULTS.md (BLAS may differ elsewhere: npnet's output
layer's dx product includes the bias row, which the floor skips); the reported
losses differ by at most 2e-7, from ``log(1 + e)`` against ``log1p(e)``.
"""
from __future__ import annotations

import argparse
import math
import statistics

import numpy as np

from benchmarks import harness, peers, tutorial
from npnet import utils
from npnet.training.relu_masks import BOOLEAN_MASKS_MIN

# Per training step of the tutorial's 4-layer net: forward 4 products + 3 ReLU,
# sigmoid 4, dz 2, backward 4 dW products + 3 dx products + 2 for the masks + 3 mask
# products, Adam 9 (moments 4, denominator 2, update 3).
CALLS_PER_STEP = 4 + 3 + 4 + 2 + 4 + 3 + 2 + 3 + 9


def _sigmoid(z: np.ndarray, out: np.ndarray, one: np.ndarray) -> None:
    """p = 1 / (1 + exp(-z)) in 4 calls, as npnet's sigmoid (overflow of exp(-z) gives p = 0, correctly)."""
    np.negative(z, out=out)
    np.exp(out, out=out)
    np.add(out, one, out=out)
    np.reciprocal(out, out=out)


def _mean_bce_from_logits(z: np.ndarray, y: np.ndarray, work: np.ndarray, scratch: np.ndarray,
                          zeros: np.ndarray, one: np.ndarray) -> float:
    """Mean over all entries of max(z, 0) - z y + log(1 + exp(-|z|)): z, y, work, scratch (N, K)."""
    np.maximum(z, zeros, out=scratch)
    np.multiply(z, y, out=work)
    np.subtract(scratch, work, out=scratch)
    np.abs(z, out=work)
    np.negative(work, out=work)
    np.exp(work, out=work)
    np.add(work, one, out=work)
    np.log(work, out=work)
    np.add(work, scratch, out=work)
    return float(np.add.reduce(work, axis=None)) / work.size


def floor_fit(x: np.ndarray, y: np.ndarray, work: peers.Workload, weights: list[np.ndarray],
              generator: np.random.Generator) -> tuple[dict[str, list[float]], np.ndarray]:
    """Train the tutorial's net from ``weights`` (Keras order W1, b1, ...) drawing batch orders from ``generator``.

    x (N, I), y (N, K) float32; returns Keras's history (loss, binary_accuracy,
    val_loss, val_binary_accuracy per epoch) and the final flat parameters
    (P,) in get_weights() order.
    """
    f32 = np.float32
    split = peers.split_index(len(x), work.validation_split)
    n, bs, n_val = split, work.batch_size, len(x) - split
    sizes = [x.shape[1], *work.hidden, y.shape[1]]
    hidden, k = sizes[1:-1], y.shape[1]

    # -- parameters: each layer's (I+1, O) kernel with the bias as its last row, views into one flat buffer
    values = np.concatenate([w.ravel() for w in weights]).astype(f32)                # (P,)
    P = values.size
    moments, g_and_g2 = np.zeros((2, P), f32), np.zeros((2, P), f32)                 # [m; v], [g; g*g]
    grads, step_tmp, denominator = g_and_g2[0], np.empty((2, P), f32), np.empty(P, f32)
    update = step_tmp[0]                       # free once the moments are updated
    offsets = np.cumsum([0] + [(i + 1) * o for i, o in zip(sizes, sizes[1:])])
    kernels = [values[a:b].reshape(i + 1, o) for a, b, i, o in zip(offsets, offsets[1:], sizes, sizes[1:])]
    dkernels = [grads[a:b].reshape(i + 1, o) for a, b, i, o in zip(offsets, offsets[1:], sizes, sizes[1:])]

    # -- data with its column of ones; the epoch's shuffled copy and its logits and probabilities
    x1 = np.ones((len(x), sizes[0] + 1), f32)
    x1[:, :-1] = x
    x_train, y_train, x_val, y_val = x1[:split], y[:split].astype(f32), x1[split:], y[split:].astype(f32)
    x_epoch, y_epoch = np.empty_like(x_train), np.empty_like(y_train)
    z_epoch, p_epoch = np.empty((n, k), f32), np.empty((n, k), f32)

    # -- constants
    lr, b1, b2 = f32(1e-3), f32(0.9), f32(0.999)
    one_minus_betas = np.stack([np.full(P, 1 - 0.9, f32), np.full(P, 1 - 0.999, f32)])   # (2, P), not (2, 1)
    epsilon, one, smallest_normal = np.array(1e-7, f32), np.array(1, f32), np.finfo(f32).smallest_normal
    zero = np.array(0, f32)   # the masks' comparand: NumPy's comparison loop with a stride-0 operand is the faster
    # alpha_t of every step: the powers one NumPy scalar at a time (C's pow, as Keras's), the rest as
    # array operations, which round as the scalar ones do (as npnet's Adam.prepare_steps)
    t = np.arange(1, work.epochs * math.ceil(n / bs) + 1).astype(f32)
    powers = np.array([(b1 ** s, b2 ** s) for s in t], f32).T
    alphas = list((lr * np.sqrt(1 - powers[1]) / (1 - powers[0])).reshape(-1, 1))   # (1,) views, one per step

    def activation_buffers(rows: int):
        """The hidden activations [h 1]^T (O+1, rows), feature-major, back to back in one flat buffer.

        Returns the flat buffer, its per-layer views, and a zero array of each
        kind (ReLU's second operand).
        """
        ends = np.cumsum([0] + [rows * (o + 1) for o in hidden])
        flat, zeros = np.ones(ends[-1], f32), np.zeros(ends[-1], f32)
        views = [(flat[a:b].reshape(o + 1, rows), zeros[a:b].reshape(o + 1, rows)) for a, b, o in zip(ends, ends[1:], hidden)]
        return flat, [v for v, _ in views], [z for _, z in views]

    def kit(rows: int):
        """Everything a step on ``rows`` rows writes into, as views made once: the forward and backward plans."""
        flat, hidden_t, hidden_zeros = activation_buffers(rows)
        bool_masks = np.empty(flat.shape, bool)      # the masks themselves for a large buffer, as npnet's
        masks = bool_masks if flat.size >= BOOLEAN_MASKS_MIN else np.empty_like(flat)
        ends = np.cumsum([0] + [h.size for h in hidden_t])
        mask_views = [masks[a:b].reshape(h.shape)[:-1] for a, b, h in zip(ends, ends[1:], hidden_t)]
        dx = [np.empty(h.shape, f32) for h in hidden_t]     # d[h 1]^T (O+1, rows); the last row unused
        dz_t = [d[:-1] for d in dx]                          # dz^T (O, rows), contiguous
        forward = list(zip([k.T for k in kernels[1:-1]], hidden_t[:-1], [h[:-1] for h in hidden_t[1:]],
                           hidden_t[1:], hidden_zeros[1:]))
        backward = list(zip(hidden_t[-2::-1], dz_t[:0:-1], dkernels[-2:0:-1], [w[:-1] for w in kernels[-2:0:-1]],
                            dz_t[-2::-1], mask_views[-2::-1]))
        return (kernels[0].T, hidden_t[0][:-1], hidden_t[0], hidden_zeros[0], forward, hidden_t[-1], flat,
                bool_masks, masks, dz_t[-1], mask_views[-1], backward, dz_t[0], np.empty((rows, k), f32),
                np.array(1.0 / (rows * k), f32))

    kits = {rows: kit(rows) for rows in {min(bs, n - start) for start in range(0, n, bs)}}
    steps = [(x_epoch[a:a + bs], y_epoch[a:a + bs], z_epoch[a:a + bs], p_epoch[a:a + bs], kits[min(bs, n - a)])
             for a in range(0, n, bs)]
    _, val_hidden, val_zeros = activation_buffers(n_val)
    val_forward = list(zip([k.T for k in kernels[:-1]], [x_val.T] + val_hidden[:-1], [h[:-1] for h in val_hidden],
                           val_hidden, val_zeros))
    z_val, p_val = np.empty((n_val, k), f32), np.empty((n_val, k), f32)
    loss_buffers = {m: (np.empty((m, k), f32), np.empty((m, k), f32), np.zeros((m, k), f32)) for m in (n, n_val)}
    history = {"loss": [], "binary_accuracy": [], "val_loss": [], "val_binary_accuracy": []}
    alpha_iter = iter(alphas)
    dkernel_0, kernel_out, dkernel_out, kernel_out_top = dkernels[0], kernels[-1], dkernels[-1], kernels[-1][:-1]
    # np.dot and np.copyto without their __array_function__ dispatch, as npnet's compiled calls (npnet.calls)
    dot, copyto = np.dot.__wrapped__, np.copyto.__wrapped__
    maximum, subtract, multiply, greater = np.maximum, np.subtract, np.multiply, np.greater
    g2, m, v = g_and_g2[1], moments[0], moments[1]

    for _ in range(work.epochs):
        order = generator.permutation(n)
        np.take(x_train, order, axis=0, out=x_epoch, mode="clip")     # "clip": no buffered copy
        np.take(y_train, order, axis=0, out=y_epoch, mode="clip")
        for xb, yb, z, p, (kernel_0_t, z1_t, h1_t, h1_zeros, forward, h_top_t, flat, bool_masks, masks,
                           dz_top_t, mask_top, backward, dz1_t, dz_out, scale) in steps:
            # forward, feature-major: [h 1]^T (O+1, N), z^T = [W; b]^T [h 1]^T (docs/backprop.md#column-major-products)
            dot(kernel_0_t, xb.T, out=z1_t)                            # (O, N) = (O, I+1) @ (I+1, N)
            maximum(h1_t, h1_zeros, out=h1_t)                          # ReLU; the row of ones stays 1
            for kernel_t, h_in_t, z_t, h_t, h_zeros in forward:
                dot(kernel_t, h_in_t, out=z_t)
                maximum(h_t, h_zeros, out=h_t)
            dot(h_top_t.T, kernel_out, out=z)                          # (N, K) logits, row-major as the labels
            _sigmoid(z, p, one)
            subtract(p, yb, out=dz_out)
            multiply(dz_out, scale, out=dz_out)                        # dz = (p - y) / (N K)
            greater(flat, zero, out=bool_masks)                        # every ReLU mask [y > 0] at once,
            if masks is not bool_masks:
                copyto(masks, bool_masks)                              # as 0.0/1.0 (faster than greater into floats)
            dot(h_top_t, dz_out, out=dkernel_out)                      # [dW; db] = [h 1]^T dz  (I+1, K)
            dot(kernel_out_top, dz_out.T, out=dz_top_t)                # dh^T (O, N) = W dz^T
            multiply(dz_top_t, mask_top, out=dz_top_t)                 # dz^T below = dh^T [y > 0]
            for h_below_t, dz_t, dkernel, kernel_top, dz_below_t, mask in backward:
                dot(h_below_t, dz_t.T, out=dkernel)                    # [dW; db] (I+1, O) = [h 1]^T dz
                dot(kernel_top, dz_t, out=dz_below_t)                  # dh^T (I, N) = W dz^T
                multiply(dz_below_t, mask, out=dz_below_t)
            dot(xb.T, dz1_t.T, out=dkernel_0)                          # [dW; db] (I+1, O) = [x 1]^T dz
            # Adam, Keras's form, both moments in one stacked update
            np.square(grads, out=g2)
            subtract(g_and_g2, moments, out=step_tmp)
            multiply(step_tmp, one_minus_betas, out=step_tmp)
            np.add(moments, step_tmp, out=moments)                     # [m; v] += ([g; g g] - [m; v]) (1 - beta)
            np.sqrt(v, out=denominator)
            np.add(denominator, epsilon, out=denominator)
            multiply(m, next(alpha_iter), out=update)
            np.divide(update, denominator, out=update)
            subtract(values, update, out=values)                       # w -= m alpha / (sqrt(v) + eps)
        # subnormal moments to zero, as TensorFlow's flush-to-zero (npnet's Optimizer.flush_subnormals)
        np.copyto(moments, 0, where=np.abs(moments) < smallest_normal)
        history["loss"].append(_mean_bce_from_logits(z_epoch, y_epoch, *loss_buffers[n], one))
        history["binary_accuracy"].append(np.count_nonzero(np.greater(p_epoch, 0.5) == y_epoch) / y_epoch.size)
        if not n_val:
            continue
        for kernel_t, h_in_t, z_t, h_t, h_zeros in val_forward:
            dot(kernel_t, h_in_t, out=z_t)
            maximum(h_t, h_zeros, out=h_t)
        dot(val_hidden[-1].T, kernel_out, out=z_val)
        _sigmoid(z_val, p_val, one)
        history["val_loss"].append(_mean_bce_from_logits(z_val, y_val, *loss_buffers[n_val], one))
        history["val_binary_accuracy"].append(np.count_nonzero(np.greater(p_val, 0.5) == y_val) / y_val.size)
    return history, values


def predict(values: np.ndarray, shapes: list[tuple[int, ...]], x: np.ndarray) -> np.ndarray:
    """Probabilities (N, K) of the ReLU net whose flat parameters (P,) are ``values`` (``shapes`` in Keras order)."""
    ends = np.cumsum([0] + [math.prod(shape) for shape in shapes])
    weights = [values[a:b].reshape(shape) for a, b, shape in zip(ends, ends[1:], shapes)]
    h = x
    for kernel, bias in zip(weights[:-2:2], weights[1:-2:2]):
        h = np.maximum(h @ kernel + bias, 0)
    return 1 / (1 + np.exp(-(h @ weights[-2] + weights[-1])))


def prepared_state(arrays: dict[str, np.ndarray], work: peers.Workload, seed: int):
    """npnet's model as the benchmark builds it, its initial weights, and a generator where its fit would draw."""
    (npnet_peer,), _ = peers.get(["npnet"], skip_missing=False)
    model = npnet_peer.build(arrays["x"].shape[1], work.hidden, arrays["y"].shape[1], seed)
    generator = np.random.default_rng()
    generator.bit_generator.state = utils.random_generator().bit_generator.state
    return model, model.get_weights(), generator


def floor_runner(arrays: dict[str, np.ndarray], work: peers.Workload, seed: int):
    """For ``harness.measure``: the untimed set-up of npnet's initial state, then the timed ``floor_fit``."""
    def prepare():
        _, weights, generator = prepared_state(arrays, work, seed)
        return lambda: floor_fit(arrays["x"], arrays["y"], work, weights, generator)
    return prepare


def check(arrays: dict[str, np.ndarray], work: peers.Workload, seed: int) -> dict[str, float]:
    """Largest differences between npnet's fit and ``floor_fit`` from the same state: per history key, and weights."""
    model, weights, generator = prepared_state(arrays, work, seed)
    ours, values = floor_fit(arrays["x"], arrays["y"], work, weights, generator)
    theirs = peers.PEERS["npnet"]
    theirs.fit(model, arrays["x"], arrays["y"], work)
    history = model.history.history
    names = {"loss": "loss", "binary_accuracy": "accuracy", "val_loss": "val_loss",
             "val_binary_accuracy": "val_accuracy"}
    differences = {key: float(np.max(np.abs(np.subtract(ours[key], history[name])))) for key, name in names.items()}
    differences["weights"] = float(np.max(np.abs(values - np.concatenate([w.ravel() for w in model.get_weights()]))))
    return differences


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=5)
    parser.add_argument("--check", action="store_true", help="compare with npnet's fit, print the differences")
    args = parser.parse_args(argv)
    arrays = tutorial.tutorial_arrays()
    work = tutorial.WORK
    (npnet_peer,), _ = peers.get(["npnet"], threads=args.threads, skip_missing=False)
    if args.check:
        for key, value in check(arrays, work, args.seed).items():
            print(f"largest |floor - npnet| {key}: {value:.3g}")
        return
    floor = harness.measure(floor_runner(arrays, work, args.seed), args.repeats)
    ours = harness.measure(peers.fit_runner(npnet_peer, arrays["x"], arrays["y"], work, args.seed), args.repeats)
    steps = work.epochs * math.ceil(peers.split_index(len(arrays["x"]), work.validation_split) / work.batch_size)
    rows = []
    for name, timing in (("NumPy floor (benchmarks/floor.py)", floor), ("npnet fit", ours)):
        cpu = statistics.median(timing.cpu_seconds)
        rows.append([name, f"{timing.median:.3f}", f"{timing.median / floor.median:.2f}x", f"{cpu:.3f}",
                     f"{cpu / steps * 1e6:.0f}", f"{cpu / statistics.median(floor.cpu_seconds):.2f}x"])
    report = "\n".join([harness.markdown_table(["run", "wall median (s)", "over the floor (wall)", "CPU median (s)",
                                                "CPU us per training step", "over the floor (CPU)"], rows),
                        "", f"- {steps} training steps and {work.epochs} validation passes, medians of "
                            f"{args.repeats} runs in one process; the tutorial workload of benchmarks.tutorial. "
                            f"The floor makes {CALLS_PER_STEP} NumPy calls per training step.",
                        "", harness.machine_report()])
    harness.publish(args, "floor", "The NumPy floor of the tutorial fit", report)


if __name__ == "__main__":
    main()
