"""The NumPy floor of the tutorial fit: npnet's array operations with nothing around them.

    python -m benchmarks.floor [--repeats 5] [--write-results]

One function runs, for 50 epochs, exactly the NumPy calls that npnet's
training step and validation pass make (the same ufuncs on the same shapes,
into preallocated arrays), inlined: no layers, no checks, no callbacks, no
history. Whatever a NumPy implementation of this training does per step, it
cannot do less than this without dropping work (the loss value, the
accuracy, the validation pass), so the floor's time bounds the speed-ups
over the other peers that any NumPy code can reach. About 60 calls per step
on arrays of at most 250 x 32 cost about 1 us each in call overhead alone.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from benchmarks import harness, peers, tutorial


def floor_fit(x: np.ndarray, y: np.ndarray, work: peers.Workload, seed: int) -> float:
    """Train as npnet's fit does, inlined; returns the last epoch's validation accuracy (so the work is used)."""
    f32 = np.float32
    rng = np.random.default_rng(seed)
    split = peers.split_index(len(x), work.validation_split)
    x, y = x.astype(f32), y.astype(f32)
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    sizes = [x.shape[1], *work.hidden, y.shape[1]]
    P = sum(i * o + o for i, o in zip(sizes, sizes[1:]))
    values, grads = np.zeros(P, f32), np.zeros(P, f32)
    W, B, dW, dB, offset = [], [], [], [], 0
    for i, o in zip(sizes, sizes[1:]):
        limit = math.sqrt(6 / (i + o))
        W.append(values[offset:offset + i * o].reshape(i, o))
        W[-1][...] = rng.uniform(-limit, limit, (i, o))
        dW.append(grads[offset:offset + i * o].reshape(i, o))
        B.append(values[offset + i * o:offset + i * o + o])
        dB.append(grads[offset + i * o:offset + i * o + o])
        offset += i * o + o
    n, bs = len(x_train), work.batch_size
    Z = [np.empty((bs, o), f32) for o in sizes[1:]]
    DZ = [np.empty((bs, o), f32) for o in sizes[1:]]
    DX = [np.empty((bs, i), f32) for i in sizes[:-1]]
    loss_a, loss_b, p = (np.empty((bs, sizes[-1]), f32) for _ in range(3))
    ones = np.ones(bs, f32)
    m, v, tmp, den = (np.zeros(P, f32) for _ in range(4))
    lr, b1, b2 = f32(1e-3), f32(0.9), f32(0.999)
    one_minus_b1, one_minus_b2, eps = f32(1 - 0.9), f32(1 - 0.999), f32(1e-7)
    x_epoch, y_epoch = np.empty_like(x_train), np.empty_like(y_train)
    layers, step = len(W), 0

    def forward_loss(xb, yb, rows):
        h = xb
        for k in range(layers):
            z = Z[k][:rows]
            np.matmul(h, W[k], out=z)
            z += B[k]
            if k < layers - 1:
                np.maximum(z, 0, out=z)
            h = z
        a, b, q = loss_a[:rows], loss_b[:rows], p[:rows]
        np.maximum(h, 0, out=b)
        np.multiply(h, yb, out=q)
        b -= q
        np.abs(h, out=a)
        np.negative(a, out=a)
        np.exp(a, out=a)
        np.log1p(a, out=a)
        a += b
        np.negative(h, out=q)
        with np.errstate(over="ignore"):
            np.exp(q, out=q)
        q += 1
        np.reciprocal(q, out=q)
        loss = float(np.add.reduce(a, axis=None) / a.size)
        correct = np.count_nonzero(np.greater(q, 0.5) == yb)
        return loss, correct

    for _ in range(work.epochs):
        order = rng.permutation(n)
        np.take(x_train, order, axis=0, out=x_epoch)
        np.take(y_train, order, axis=0, out=y_epoch)
        for start in range(0, n, bs):
            xb, yb = x_epoch[start:start + bs], y_epoch[start:start + bs]
            rows = len(xb)
            forward_loss(xb, yb, rows)
            d = DZ[-1][:rows]
            np.subtract(p[:rows], yb, out=d)
            d *= 1.0 / yb.size
            for k in reversed(range(layers)):
                below = xb if k == 0 else Z[k - 1][:rows]
                np.matmul(below.T, d, out=dW[k])
                np.matmul(ones[:rows], d, out=dB[k])
                if k:
                    dx, dn = DX[k][:rows], DZ[k - 1][:rows]
                    np.matmul(d, W[k].T, out=dx)
                    np.greater(below, 0, out=dn)
                    dn *= dx
                    d = dn
            step += 1
            t = f32(step)
            alpha = lr * np.sqrt(1 - np.power(b2, t)) / (1 - np.power(b1, t))
            np.subtract(grads, m, out=tmp)
            tmp *= one_minus_b1
            m += tmp
            np.square(grads, out=tmp)
            tmp -= v
            tmp *= one_minus_b2
            v += tmp
            np.multiply(m, alpha, out=tmp)
            np.sqrt(v, out=den)
            den += eps
            tmp /= den
            values -= tmp
        correct = 0
        for start in range(0, len(x_val), bs):
            xb, yb = x_val[start:start + bs], y_val[start:start + bs]
            correct += forward_loss(xb, yb, len(xb))[1]
    return correct / y_val.size


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=5)
    args = parser.parse_args(argv)
    arrays = tutorial.tutorial_arrays()
    work = tutorial.WORK
    (npnet_peer,), _ = peers.get(["npnet"], threads=args.threads, skip_missing=False)
    floor = harness.measure(lambda: (lambda: floor_fit(arrays["x"], arrays["y"], work, args.seed)), args.repeats)
    ours = harness.measure(peers.fit_runner(npnet_peer, arrays["x"], arrays["y"], work, args.seed), args.repeats)
    steps = work.epochs * math.ceil(peers.split_index(len(arrays["x"]), work.validation_split) / work.batch_size)
    rows = [["NumPy floor (inlined calls)", f"{floor.median:.3f}", f"{floor.median / steps * 1e6:.0f}", "1.00x"],
            ["npnet fit", f"{ours.median:.3f}", f"{ours.median / steps * 1e6:.0f}",
             f"{ours.median / floor.median:.2f}x"]]
    report = "\n".join([harness.markdown_table(["run", "median (s)", "us per training step", "over the floor"], rows),
                        "", f"- {steps} training steps and {work.epochs} validation passes, medians of "
                            f"{args.repeats} runs; the tutorial workload of benchmarks.tutorial.",
                        "", harness.machine_report()])
    harness.publish(args, "floor", "The NumPy floor of the tutorial fit", report)


if __name__ == "__main__":
    main()
