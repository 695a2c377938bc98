"""``Dense``: a fully connected layer, ``y = activation(x @ W + b)``. Glossary: ``npnet.layers.base``."""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from npnet import activations, initializers, regularizers
from npnet._validation import check_bool, check_int
from npnet.calls import Calls, Views, calls_of, copyto, dot, run, transposed, without_last_column, writes_calls
from npnet.layers.base import Layer, Weight
from npnet.params import WorkArrays, stacked


# A product whose output has a row per sample goes to np.matmul from this many entries on, below to np.dot.
# Both hand BLAS the same sgemm call; np.dot also zeroes its output first, one more pass over memory that
# took 2.8% of the compute-bound epoch (1,024 x 512 outputs, benchmarks/RESULTS.md), while for the tutorial's
# small products np.dot's call costs 0.2 to 0.3 us less.
MATMUL_MIN = 65_536


def _rows(a: np.ndarray, rows: slice | None) -> np.ndarray:
    """Rows ``rows`` of a, or a itself for all of them: the same object in every binding (npnet.calls)."""
    return a if rows is None else a[rows]


def product(out: np.ndarray) -> Any:
    """np.dot, or np.matmul for an output ``out`` of at least ``MATMUL_MIN`` entries: the same product."""
    return np.matmul if out.size >= MATMUL_MIN else dot


class Dense(Layer):
    """A fully connected layer: ``y = activation(x @ W + b)``.

    x (N, I), W (I, O) "kernel", b (O,) "bias", y (N, O). Gradients are derived
    in docs/backprop.md#dense. ``kernel_regularizer`` and ``bias_regularizer``
    add their penalty of W and b to the loss, ``activity_regularizer`` its
    penalty of y divided by N (Keras's per-sample scaling), and each adds its
    gradient in ``backward`` (docs/backprop.md#weight-penalties).

    The bias trick (docs/backprop.md#the-bias-trick): the model lays W and b out
    one after the other, so ``Wb = [W; b]`` (I+1, O) is one view of both. For an
    input that carries a column of ones, x1 = [x 1] (N, I+1), one product gives
    ``x1 @ Wb = x W + b`` and one product gives both gradients,
    ``x1^T dz = [dW; db]``; then ``backward`` returns ``dz Wb^T`` (N, I+1), whose
    last column (the gradient with respect to the ones) the layer below ignores.
    The model passes x1 where the layer below can leave the column of ones next
    to its output (``forward(..., ones_column=True)``; only an activation with
    f(1) = 1, as ReLU, may run over it) and the fit's data where this is the
    first layer; given x (N, I), the layer adds b itself.

    Column-major products (docs/backprop.md#column-major-products): the arrays
    that pass between two Dense layers, [y 1] and [dx 1] (and dz beside [y 1]),
    are stored column by column (Fortran order), and their products are
    computed transposed, ``z^T = Wb^T x1^T`` into z's memory: each entry is the
    same dot product as in ``x1 @ Wb``, but BLAS gets the batch as the long side
    of its column-major view, which runs the narrow products of a small network
    1.3x to 2.2x faster; and ``z = y1[:, :-1]`` is then one contiguous block.

    Bound once per arrays: handed the same arrays (the same objects) as last
    time, ``forward_calls`` and ``backward_calls`` give back the calls they bound
    then, and the forward the ``x``, ``y``, ``activated`` (and ``z``, ``a``) it set,
    so that fit's steps of one batch size read the same array objects
    (npnet.calls.LastBinding).
    """

    def __init__(self, units: int, activation: activations.ActivationLike = None, use_bias: bool = True,
                 kernel_initializer: initializers.InitializerLike = "glorot_uniform",
                 bias_initializer: initializers.InitializerLike = "zeros",
                 kernel_regularizer: regularizers.RegularizerLike = None,
                 bias_regularizer: regularizers.RegularizerLike = None,
                 activity_regularizer: regularizers.RegularizerLike = None,
                 input_dim: int | None = None, input_shape: tuple[int] | None = None,
                 name: str | None = None, trainable: bool = True):
        self.units = check_int(units, "units", minimum=1)
        self.activation = activations.get(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        super().__init__(name=name, trainable=trainable, input_dim=input_dim, input_shape=input_shape)

    # -- parameters -----------------------------------------------------------------

    def output_dim(self, input_dim: int) -> int:
        return self.units

    def weights_spec(self, input_dim: int) -> list[Weight]:
        """kernel (I, O), then bias (O,) if ``use_bias``."""
        kernel = Weight("kernel", (input_dim, self.units), self.kernel_initializer, True, self.kernel_regularizer)
        bias = Weight("bias", (self.units,), self.bias_initializer, True, self.bias_regularizer)
        return [kernel, bias] if self.use_bias else [kernel]

    def bind(self, input_dim: int, values: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        super().bind(input_dim, values, grads)
        self.W, self.dW = values[0], grads[0]                       # (I, O); dW None when frozen
        self.Wb = self.dWb = None
        if self.use_bias:
            self.b, self.db = values[1], grads[1]                   # (O,)
            self.Wb = stacked(self.W, self.b)                       # (I+1, O) = [W; b], a view of both
            self.dWb = None if self.dW is None else stacked(self.dW, self.db)
        self.wants_ones_column = self.Wb is not None
        # An activation whose backward needs its input (gelu, silu) gets z kept in an array of its own.
        self._keeps_z = getattr(self.activation, "needs_input", False)
        self._work = WorkArrays(self.W.dtype, ones_column=("y1",), column_major=("y1", "dz1", "dx1"),
                                y=self.units, y1=self.units + 1,
                                dz=self.units, dz1=self.units + 1, dx=input_dim, dx1=input_dim + 1,
                                **({"z": self.units} if self._keeps_z else {}))
        if self.activity_regularizer is not None:
            # the activated output (when the forward stops at the logits) and the penalty's gradient
            self._activity_work = WorkArrays(self.W.dtype, a=self.units, da=self.units)
        # the views forward_calls and backward_calls take of the kernels and of the arrays they are handed:
        # the same objects in every binding, as the calls they bound last (``Layer.bind``, npnet.calls)
        self._views = Views()

    @property
    def gives_ones_column(self) -> bool:
        """Whether ``forward(..., ones_column=True)`` may leave a column of ones next to y: f(1) = 1.

        Not with an activation that needs its input, nor with an activity penalty (it reads y (N, O)).
        """
        return (self.activation.keeps_ones and not getattr(self.activation, "needs_input", False)
                and self.activity_regularizer is None)

    @property
    def relu_output(self) -> bool:
        """Whether fit's step may hand this layer its output [y 1] and its ReLU mask (``Layer.relu_output``):
        the activation is ReLU itself, forward and backward are Dense's own calls (a subclass's own calls
        take the arguments they declare), and [y 1] may go up."""
        return type(self.activation) is activations.ReLU and self._own_calls and self.gives_ones_column

    @property
    def splits_rows(self) -> bool:
        """Whether fit's split step may bind this layer's calls by blocks of rows (``Layer.splits_rows``): its
        own forward and backward calls, a bias to fold, every weight trained, no penalty."""
        return self._own_calls and self.dWb is not None and not self.penalized and self.activity_regularizer is None

    @property
    def _own_calls(self) -> bool:
        """Whether forward and backward are Dense's own calls: a subclass's own take the arguments it declares."""
        cls = type(self)
        return (cls.forward_calls is Dense.forward_calls and cls.backward_calls is Dense.backward_calls
                and writes_calls(self, Layer))

    @property
    def _activation_calls(self) -> tuple:
        """The activation's (forward_calls, backward_calls): its NumPy calls (ReLU, sigmoid), or one call
        of its methods (the others, and a subclass that rewrote them)."""
        return calls_of(self.activation, activations.Activation)

    @property
    def penalized(self) -> bool:
        return (bool(self.penalized_weights()) or self.activity_regularizer is not None
                or type(self).regularization_loss is not Dense.regularization_loss)   # a subclass's own penalty

    @property
    def kernel(self) -> np.ndarray:
        """W, shape (I, O): a view into the parameter buffer."""
        return self.W

    @property
    def bias(self) -> np.ndarray | None:
        """b, shape (O,), or None without a bias."""
        return self.b if self.use_bias else None

    # -- forward and backward -----------------------------------------------------
    #
    # A Dense layer writes its forward and its backward as the list of NumPy calls
    # they make (``forward_calls``, ``backward_calls``): fit binds them once per
    # batch and then only runs them (npnet.training.step, docs/backprop.md#the-compiled-step).
    # ``forward`` and ``backward`` run the same calls at once.

    def forward(self, x: np.ndarray, training: bool = False, activate: bool = True,
                ones_column: bool = False) -> np.ndarray:
        """x (N, I) or [x 1] (N, I+1) -> y (N, O), or [y 1] (N, O+1) with ``ones_column``: ``forward_calls``, run."""
        calls, y = self.forward_calls(x, training, activate, ones_column)
        run(calls)
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dy (N, O) -> dx (N, I); writes dW (I, O) and db (O,): ``backward_calls``, run."""
        calls, dx = self.backward_calls(dy, need_dx)
        run(calls)
        return dx

    def forward_calls(self, x: np.ndarray, training: bool = False, activate: bool = True,
                      ones_column: bool = False, out: np.ndarray | None = None,
                      rows: slice | None = None) -> tuple[Calls, np.ndarray]:
        """The calls that take x (N, I) or [x 1] (N, I+1) to y (N, O), or [y 1] (N, O+1) with ``ones_column``.

        With ``activate=False`` y is the logits z = x @ W + b: the output layer
        of a fused loss (docs/backprop.md#sigmoid-and-binary-crossentropy).
        ``out``: the array y is written into instead of a work array: (N, O)
        row-major (fit hands the last layer the rows of its epoch's outputs), or
        with ``ones_column`` [y 1] (N, O+1) column-major with its last column of
        ones set (fit's ReLU layers, npnet.training.relu_masks). ``rows``: the
        calls compute only those rows of y, from those of x, in the same arrays,
        row-major there (fit's split step, npnet.training.split, hands them over;
        not with an activity penalty).
        """
        key = (x, training, activate, ones_column, out, self.activation)
        if rows is None and (bound := self._forward_bound.get(key)) is not None:   # the same arrays as last time
            calls, y, state = bound
            vars(self).update(state)   # what that binding left for backward_calls
            return list(calls), y
        work = self._work.rows(len(x))
        kernel = self.Wb if x.shape[1] > self.input_dim else self.W   # [W; b] when x carries the ones
        y = work[1 if ones_column else 0] if out is None else out
        if rows is not None:                            # a block of rows of y, row-major (the split step's)
            z = y[rows, :-1] if ones_column else y[rows]
            calls = [partial(np.matmul, x[rows], kernel, z)]          # (n, O) = (n, I+1) @ (I+1, O)
        elif ones_column:                               # y1 (column-major) goes to a Dense; its 1s are set once
            z = self._views("z", y, without_last_column)
            kernel_t = self._views("kernel^T", kernel, transposed)
            x_t, z_t = self._views("x^T", x, transposed), self._views("z^T", z, transposed)
            calls = [partial(product(z), kernel_t, x_t, z_t)]   # (O, N) = (O, I+1) @ (I+1, N): z^T = Wb^T x1^T
        else:
            z = y
            calls = [partial(product(z), x, kernel, z)]         # (N, O) = (N, I+1) @ (I+1, O): z = x1 Wb
        if kernel is self.W and self.use_bias:          # x without its ones: the bias added on its own
            calls.append(partial(np.add, z, self.b, z))       # (N, O) = (N, O) + (O,), broadcast over rows
        self.x, self.y, self.activated = x, y, activate  # backward needs x for dW, y for f'
        if activate and self._keeps_z:
            self.z = work[6]
            calls.append(partial(copyto, _rows(self.z, rows), z))   # (N, O), kept: y overwrites z below
        if activate:
            y_rows = _rows(y, rows)   # one object, read and written (npnet.calls)
            calls += self._activation_calls[0](y_rows, y_rows)   # y = f(z) in place; f(1) = 1 keeps the ones
        if self.activity_regularizer is not None:
            # Keras penalizes the layer's output, the activated one, even when the loss takes the logits.
            self.a = y                                              # (N, O)
            if not activate:
                self.a, _ = self._activity_work.rows(len(x))
                calls += [partial(copyto, self.a, z), *self._activation_calls[0](self.a, self.a)]
            # ``regularization_loss`` reads the output of the forward that ran last, and fit runs
            # calls bound long before, to other batches' arrays (and the validation pass's) in between.
            calls.append(partial(setattr, self, "a", self.a))
        if rows is None:
            state = {name: vars(self)[name] for name in ("x", "y", "activated", "z", "a") if name in vars(self)}
            self._forward_bound.set(key, (list(calls), y, state))
        return calls, y

    def backward_calls(self, dy: np.ndarray, need_dx: bool = True, relu_mask: np.ndarray | None = None,
                       rows: slice | None = None, weights: bool = True,
                       out: np.ndarray | None = None) -> tuple[Calls, np.ndarray | None]:
        """The calls that take dy (N, O) to dx (N, I) and write dW (I, O) and db (O,) unless the layer is frozen.

        dz = dy * f'(z); dW = x^T dz; db = dz^T 1 (the sum over the batch); dx = dz W^T
        (docs/backprop.md#dense). dy and dx have the shapes forward returned and
        received: (N, O+1) and (N, I+1) with the bias trick. The first layer passes
        ``need_dx=False``: nothing upstream needs dL/dx of the data, so its product is skipped.
        ``relu_mask`` (N, O+1): ReLU's mask of [y 1], computed by fit's step for a ``relu_output``
        layer (npnet.training.relu_masks), 0.0/1.0 or booleans; dz = dy * mask then goes into dy, the
        array of the layer above, which nothing reads after this.
        fit's split step (npnet.training.split) passes ``rows``, so that the calls compute dz and dx for
        those rows only, in the same arrays, and ``weights=False``: [dW; db] sums over the whole batch,
        and ``weight_gradient_calls`` takes it block of kernel rows by block after every worker's rows.
        """
        # what these calls may read besides the arguments: all that the forward bound last left
        key = (dy, need_dx, relu_mask, weights, out, self.x, self.y, self.activated, vars(self).get("z"),
               vars(self).get("a"), self.activation)
        if rows is None and (bound := self._backward_bound.get(key)) is not None:   # the same arrays as last time
            calls, dx, self._dz = bound
            return list(calls), dx
        _, _, dz, dz1, dx, dx1, *_ = self._work.rows(len(dy))
        if out is not None:   # the array dx goes into: [dx 1] (N, I+1) with the bias trick, else (N, I)
            dx = dx1 = out
        x, calls = self.x, []
        if self.activity_regularizer is not None:
            da = self._activity_work.rows(len(dy))[1]
            calls.append(partial(self._add_activity_gradient, self.a, self.y, self.activated, dy, dz, da))
            dy = da if self.activated else dz                   # (N, O): dy + dpenalty
        if not self.activated or self.activation.identity:      # dy is already dL/dz
            dz = dy if dy.shape[1] == self.units else self._views("dz", dy, without_last_column)
        elif relu_mask is not None:                             # [y 1] went up, its mask taken by the step
            dy_rows = _rows(dy, rows)   # one object, read and written (npnet.calls)
            calls += self.activation.masked_backward_calls(_rows(relu_mask, rows), dy_rows, dy_rows)   # (N, O+1), into dy
            dz = self._views("dz", dy, without_last_column)
        elif dy.shape[1] > self.units:                          # [y 1] went up: dL/d1 in the last column
            calls += self._activation_calls[1](_rows(self.y, rows), _rows(dy, rows), _rows(dz1, rows))   # (N, O+1)
            dz = self._views("dz", dz1, without_last_column)   # (N, O), of (N, O+1)
        else:
            calls += self._activation_calls[1](_rows(self.y, rows), _rows(dy, rows), _rows(dz, rows),
                                               _rows(self.z, rows) if self._keeps_z else None)   # (N, O)
        self._dz = dz                                           # (N, O): for weight_gradient_calls
        folded = x.shape[1] > self.input_dim
        x_t = self._views("x^T", x, transposed)
        if self.dW is not None and weights:
            if folded:
                calls.append(partial(dot, x_t, dz, self.dWb))         # (I+1, O) = (I+1, N) @ (N, O): [dW; db]
            else:
                calls.append(partial(dot, x_t, dz, self.dW))          # (I, O) = (I, N) @ (N, O)
                if self.use_bias:
                    calls.append(partial(dot, self._work.ones(len(dy)), dz, self.db))   # (O,) = (N,) @ (N, O)
            calls += [partial(regularizer.gradient, value, grad) for regularizer, value, grad in self.penalized_weights()
                      if grad is not None]                     # grad += dpenalty/dw (docs/backprop.md#weight-penalties)
        if rows is not None:                                    # a block of rows of dx, row-major (the split step's)
            if not need_dx:
                return calls, None
            dx = dx1 if folded else dx
            calls.append(partial(np.matmul, dz[rows], (self.Wb if folded else self.W).T, dx[rows]))   # (n, I(+1)) = (n, O) @ (O, I(+1))
            return calls, dx
        if not need_dx:
            dx = None
        elif folded:                                            # dx1 (column-major) goes to a Dense
            dz_t, dx1_t = self._views("dz^T", dz, transposed), self._views("dx^T", dx1, transposed)
            calls.append(partial(product(dx1), self.Wb, dz_t, dx1_t))   # (I+1, N) = (I+1, O) @ (O, N): dx1^T = Wb dz^T
            dx = dx1
        else:
            w_t = self._views("W^T", self.W, transposed)
            calls.append(partial(product(dx), dz, w_t, dx))            # (N, I) = (N, O) @ (O, I): dx = dz W^T
        self._backward_bound.set(key, (list(calls), dx, dz))
        return calls, dx

    def weight_gradient_calls(self, kernel_rows: slice) -> Calls:
        """Rows ``kernel_rows`` of [dW; db] (I+1, O) = [x 1]^T dz over the whole batch, from the [x 1] and dz
        of the calls bound last (fit's split step, npnet.training.split: x carried its column of ones)."""
        if self.dWb is None or self.x.shape[1] == self.input_dim:
            raise ValueError(f"layer {self.name!r}: a block of [dW; db] needs a bias and an input with its ones")
        return [partial(np.matmul, self.x[:, kernel_rows].T, self._dz, self.dWb[kernel_rows])]   # (r, O) = (r, N) @ (N, O)

    def _add_activity_gradient(self, a: np.ndarray, y: np.ndarray, activated: bool, dy: np.ndarray,
                               dz: np.ndarray, da: np.ndarray) -> None:
        """dy plus the activity penalty's gradient at the output a (N, O): w.r.t. y into ``da`` when
        activated, else w.r.t. z into ``dz`` (y then holds z). All bound: a compiled step runs it much later."""
        da[...] = 0.0
        self.activity_regularizer.gradient(a, da)               # (N, O): dpenalty/da
        da /= da.dtype.type(len(dy))                            # (N, O): Keras divides the penalty by N
        if activated:
            np.add(dy, da, out=da)                              # (N, O)
            return
        # The loss took the logits z, so dy is dL/dz and the penalty's path to z runs through f;
        # dz's work array is free on this path (backward then uses dy as dz).
        logits = {"z": y} if self._keeps_z else {}              # not activated: y holds z
        self.activation.backward(a, da, out=dz, **logits)       # (N, O): dpenalty/dz
        np.add(dy, dz, out=dz)                                  # (N, O)

    def regularization_loss(self) -> float:
        """The kernel's and bias's penalties, plus the activity penalty of the last output divided by N."""
        penalty = self.weight_penalty()
        if self.activity_regularizer is not None:
            n = self.a.dtype.type(len(self.a))
            penalty += float(self.a.dtype.type(self.activity_regularizer.penalty(self.a)) / n)
        return penalty

    def get_config(self) -> dict[str, Any]:
        """``Dense(**config)`` rebuilds this layer (without its weights)."""
        return {"units": self.units, "activation": activations.serialize(self.activation, f"layer {self.name!r}"),
                "use_bias": self.use_bias,
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                **super().get_config()}

    def __repr__(self) -> str:
        return f"<Dense {self.name!r} units={self.units} activation={self.activation.name}>"
