"""Activation functions, each with its derivative taken from its own output where it can be.

Shapes: ``z``, ``y``, ``dy`` and ``dz`` all share one shape, (N, O) inside a
Dense layer. ``y = f(z)``; ``dz = dL/dz``. Every function is elementwise but
softmax, which acts on the last axis. Derivations: docs/backprop.md#activations
and the sections linked from each class. Where the derivative cannot be
written in y alone (gelu, silu), ``needs_input`` is True and the layer keeps z
for ``backward(y, dy, out, z=z)``; otherwise y may overwrite z in place.

Calling an activation (``activations.relu(x)``) returns a new array, like the
Keras functions. Dense uses ``forward``/``backward``, which write into arrays
the layer owns so that a training step allocates nothing.
"""
from __future__ import annotations

import functools
import math
from functools import partial
from typing import Callable, Union

import numpy as np

from npnet._validation import as_tensor_like, check_bool, check_float
from npnet.calls import copyto, maximum, run


class Activation:
    """``y = f(z)`` and its backward ``dz = dy * f'(z)``, with ``f'`` written in terms of ``y`` (or z)."""

    name = "activation"
    needs_input = False   # True: backward needs z as well as y, so y must not overwrite z
    # f(1) == 1, elementwise: the activation may run over a whole buffer that carries a
    # column of ones for the next layer's bias (the bias trick, npnet.layers.dense) and leave it.
    keeps_ones = False
    identity = False   # f(z) = z: forward and backward return their input, and a layer may skip them

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``f(x)`` as a new array: a float array keeps its dtype; lists, bools and ints become float32 (as TensorFlow)."""
        array = as_tensor_like(x, "x")
        return self.forward(array, np.empty_like(array))

    def forward(self, z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write ``f(z)`` into ``out`` (may be ``z`` itself) and return it."""
        raise NotImplementedError

    def backward(self, y: np.ndarray, dy: np.ndarray, out: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """Return ``dz = dy * f'(z)`` written into ``out``, from the output ``y`` (and ``z`` if ``needs_input``)."""
        raise NotImplementedError

    # A Dense layer hands fit its forward and backward as calls (docs/backprop.md#the-compiled-step):
    # by default one call of the method; ReLU and sigmoid write theirs as the NumPy calls themselves
    # (and their methods run those), which saves a method call per layer and step.

    def forward_calls(self, z: np.ndarray, out: np.ndarray) -> list:
        """The calls that write ``f(z)`` into ``out``: one call of ``forward``, its result copied into ``out``
        if it returned another array (as a custom activation that ignores ``out`` does)."""
        return [partial(_into, self.forward, (z, out), out)]

    def backward_calls(self, y: np.ndarray, dy: np.ndarray, out: np.ndarray, z: np.ndarray | None = None) -> list:
        """The calls that write ``dz = dy * f'(z)`` into ``out``, as ``forward_calls``."""
        return [partial(_into, self.backward, (y, dy, out, z), out)]

    def __repr__(self) -> str:
        return f"<activation {self.name}>"

    def __reduce__(self) -> str | tuple:
        # npnet recognises its activations by identity (the fused sigmoid + binary
        # crossentropy output, saving by name), so pickle and copy.deepcopy give
        # back the registered object itself rather than an equal copy.
        if _REGISTRY.get(self.name) is self:
            return self.name   # pickle/copy look up this module-level name: the singleton
        return super().__reduce__()


def _into(method: Callable, arguments: tuple, out: np.ndarray) -> None:
    result = method(*arguments)
    if result is not out:
        np.copyto(out, result)


class Linear(Activation):
    """``y = z``; ``dz = dy``. Returns its input unchanged, no copy."""

    name = "linear"
    keeps_ones = True
    identity = True

    def forward(self, z, out):
        return z

    def backward(self, y, dy, out, z=None):
        return dy


@functools.lru_cache(maxsize=16)
def _constant(value: int, dtype: np.dtype) -> np.ndarray:
    """``value`` as a read-only 0-d array of ``dtype``: NumPy takes a 0-d array faster than a Python
    number, which it converts on every call (sigmoid's 1 + e, ReLU's mask [y > 0])."""
    constant = np.full((), value, dtype)
    constant.flags.writeable = False
    return constant


def zeros_like(a: np.ndarray) -> np.ndarray:
    """A read-only array of zeros with a's shape, dtype and memory order, made once per kind.

    ReLU takes its maximum against it: with a Python scalar 0 NumPy converts and
    broadcasts the scalar on every call, 1.6x slower for a (250, 33) float32
    array, and a 0-d zero is slower too: for np.maximum the loop over two arrays
    beats the loop with a stride-0 operand in the cache (single-threaded on the
    repository's Xeon, column-major float32: 1.0 against 1.6 us at 8,250
    entries, 35 against 45 us at 262,144); beyond the cache the 0-d zero reads
    less (144 against 98 us at 525,312 entries when the array was not in the
    cache), but ReLU's input has just been written by its product, and a 0-d
    zero for the compute-bound problem's first layer made its epoch 25 ms slower
    (benchmarks/RESULTS.md). The order matches a's, so that both operands are
    read front to back: Dense's work arrays are column-major (``npnet.layers.dense``).
    """
    return _zeros(a.shape, a.dtype, a.flags.f_contiguous)


@functools.lru_cache(maxsize=64)
def _zeros(shape: tuple[int, ...], dtype: np.dtype, fortran: bool) -> np.ndarray:
    array = np.zeros(shape, dtype, order="F" if fortran else "C")
    array.flags.writeable = False
    return array


class ReLU(Activation):
    """``y = max(z, 0)``; ``dz = dy * [y > 0]`` (the derivative at 0 is taken as 0, as in TensorFlow)."""

    name = "relu"
    keeps_ones = True

    def forward(self, z, out):
        run(self.forward_calls(z, out))
        return out

    def backward(self, y, dy, out, z=None):
        run(self.backward_calls(y, dy, out))
        return out

    def forward_calls(self, z, out):
        return [partial(maximum, z, zeros_like(z), out)]

    def backward_calls(self, y, dy, out, z=None):
        return self.mask_calls(y, out) + self.masked_backward_calls(out, dy, out)

    def mask_calls(self, y, mask, above=None):
        """The calls that write f'(z), the mask [y > 0], into ``mask`` (y's shape): as 0.0/1.0, or as booleans
        when ``mask`` is the boolean array ``above`` itself (fit's large steps, npnet.training.relu_masks).

        A comparison writing floats is NumPy's slow path (it compares, then converts element by element);
        comparing into booleans and copying booleans into floats both have vector loops. The comparison
        is against a 0-d zero, unlike ReLU's maximum (``zeros_like``): NumPy's comparison with a stride-0
        operand is the faster loop at every size (0.6 against 0.9 us at 8,250 entries, 63 against 162 us
        at 525,312). Through the
        boolean array ``above``, if given, fit's step takes all its layers' masks at once, over one buffer
        (npnet.training.relu_masks).
        """
        greater = partial(np.greater, y, _constant(0, y.dtype))   # [y > 0]
        if above is None or above is mask:
            return [partial(greater, mask)]   # into floats; or into booleans, a ``mask`` that is ``above``
        return [partial(greater, above), partial(copyto, mask, above)]

    def masked_backward_calls(self, mask, dy, out):
        """dz = dy * mask, with the mask from ``mask_calls`` (0.0/1.0, or booleans: the same product)."""
        return [partial(np.multiply, mask, dy, out)]


class Sigmoid(Activation):
    """``y = 1 / (1 + exp(-z))``; ``dz = dy * y * (1 - y)``.

    For z below about -88 (float32) exp(-z) overflows to inf and y becomes 0,
    the correctly rounded result; the overflow warning is silenced for that reason.
    """

    name = "sigmoid"

    def forward(self, z, out):
        run(self.forward_calls(z, out))
        return out

    def forward_calls(self, z, out, overflow_silenced=False):
        """1 / (1 + exp(-z)) in four calls. The exp call silences its overflow warning itself, unless
        the caller runs with overflow warnings off already (fit's steps, ``npnet.training.trainer``)."""
        exp = partial(np.exp, out, out) if overflow_silenced else partial(_exp_silencing_overflow, out)
        return [partial(np.negative, z, out), exp, partial(np.add, out, _constant(1, out.dtype), out),
                partial(np.reciprocal, out, out)]

    def backward(self, y, dy, out, z=None):
        np.subtract(1, y, out=out)
        out *= y
        out *= dy
        return out


def _exp_silencing_overflow(a: np.ndarray) -> None:
    """a = exp(a) in place, without the warning for entries that overflow to inf."""
    with np.errstate(over="ignore"):
        np.exp(a, out=a)


class Tanh(Activation):
    """``y = tanh(z)``; ``dz = dy * (1 - y**2)``."""

    name = "tanh"

    def forward(self, z, out):
        return np.tanh(z, out=out)

    def backward(self, y, dy, out, z=None):
        np.square(y, out=out)
        np.subtract(1, out, out=out)
        out *= dy
        return out


class Softmax(Activation):
    """``y = exp(z) / sum(exp(z))`` over the last axis; ``dz = y * (dy - sum(dy * y))`` per row.

    The row maximum is subtracted first (softmax does not change under a shift),
    so exp never overflows: finite for any finite logits, as tf.nn.softmax.
    The Jacobian and its collapse with crossentropy: docs/backprop.md#softmax.
    """

    name = "softmax"

    def forward(self, z, out):
        np.subtract(z, z.max(axis=-1, keepdims=True), out=out)   # (N, K) - (N, 1): each row's max is 0
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)                   # (N, K) / (N, 1)
        return out

    def backward(self, y, dy, out, z=None):
        np.multiply(dy, y, out=out)
        row_dot = out.sum(axis=-1, keepdims=True)   # (N, 1) = sum_k dy[n, k] y[n, k]
        np.subtract(dy, row_dot, out=out)           # (N, K) - (N, 1)
        out *= y
        return out


class LeakyReLU(Activation):
    """``y = z`` for z > 0, ``negative_slope * z`` otherwise; ``dz = dy * [y > 0 ? 1 : slope]``.

    Keras 3's default slope is 0.2 (Keras 2's layer used 0.3). The slope is
    rounded to float32, as TensorFlow's kernel holds it; at z = 0 the
    derivative is taken as the slope, as tf.nn.leaky_relu's gradient does.
    docs/backprop.md#leaky-relu-and-elu.
    """

    name = "leaky_relu"
    keeps_ones = True

    def __init__(self, negative_slope: float = 0.2):
        self.negative_slope = check_float(negative_slope, "negative_slope", 0.0, np.inf, high_open=True)
        # TensorFlow's LeakyRelu op holds alpha as a float32 attribute: in float64 too the
        # slope is float32(0.2) = 0.20000000298...
        self._slope = float(np.float32(self.negative_slope))

    def forward(self, z, out):
        if out is not z:
            out[...] = z
        np.multiply(out, out.dtype.type(self._slope), out=out, where=out < 0)
        return out

    def backward(self, y, dy, out, z=None):
        np.multiply(dy, dy.dtype.type(self._slope), out=out)
        np.copyto(out, dy, where=y > 0)   # slope >= 0, so y > 0 exactly where z > 0
        return out


class ELU(Activation):
    """``y = z`` for z > 0, ``alpha * (exp(z) - 1)`` otherwise; ``dz = dy * [y < 0 ? y + alpha : 1]``.

    For z < 0, f'(z) = alpha exp(z) = y + alpha. TensorFlow's kernel computes
    exp(z) - 1, which for |z| << 1 cancels to an absolute error of about one
    ulp of 1; npnet computes expm1(z), correct to an ulp of y.
    docs/backprop.md#leaky-relu-and-elu.
    """

    name = "elu"
    keeps_ones = True

    def __init__(self, alpha: float = 1.0):
        self.alpha = check_float(alpha, "alpha", 0.0, np.inf, low_open=True, high_open=True)

    def forward(self, z, out):
        if out is not z:
            out[...] = z
        negative = out < 0
        np.expm1(out, out=out, where=negative)
        if self.alpha != 1.0:
            np.multiply(out, out.dtype.type(self.alpha), out=out, where=negative)
        return out

    def backward(self, y, dy, out, z=None):
        np.add(y, y.dtype.type(self.alpha), out=out)
        np.copyto(out, 1, where=y >= 0)
        out *= dy
        return out


class Softplus(Activation):
    """``y = log(1 + exp(z))``; ``dz = dy * sigmoid(z) = dy * (1 - exp(-y))``.

    Forward as TensorFlow's kernel: with t = log(machine epsilon) + 2, y = z
    for z > -t and y = exp(z) for z < t, where log(1 + exp(z)) equals them to
    within rounding and exp would overflow or lose the result.
    sigmoid(z) = 1 - exp(-y) because exp(y) = 1 + exp(z); written -expm1(-y),
    it keeps its relative precision for y near 0. docs/backprop.md#softplus-and-silu.
    """

    name = "softplus"

    def forward(self, z, out):
        t = np.log(np.finfo(z.dtype).eps) + 2          # -13.94 in float32, -34.04 in float64
        large, small = z > -t, z < t                    # (N, O) masks, taken before out may overwrite z
        with np.errstate(over="ignore"):                # exp(z) = inf only where y = z is taken
            exp_z = np.exp(z)
        soft = np.log1p(exp_z)
        np.copyto(soft, exp_z, where=small)
        np.copyto(soft, z, where=large)
        out[...] = soft
        return out

    def backward(self, y, dy, out, z=None):
        np.negative(y, out=out)
        np.expm1(out, out=out)
        np.negative(out, out=out)   # sigmoid(z) = 1 - exp(-y)
        out *= dy
        return out


class SiLU(Activation):
    """``y = z * sigmoid(z)`` (swish); ``dz = dy * s * (1 + z * (1 - s))`` with s = sigmoid(z).

    The derivative needs z (y alone does not determine it: silu is not
    monotonic), hence ``needs_input``. The gradient is tf.nn.silu's, term for
    term. docs/backprop.md#softplus-and-silu.
    """

    name = "silu"
    needs_input = True

    def forward(self, z, out):
        s = sigmoid.forward(z, out=np.empty_like(z))   # (N, O); its own array, as out may be z
        np.multiply(z, s, out=out)                     # z * sigmoid(z), TensorFlow's order
        return out

    def backward(self, y, dy, out, z=None):
        s = sigmoid.forward(z, out=np.empty_like(z))   # (N, O)
        np.subtract(1, s, out=out)
        out *= z
        out += 1
        out *= s
        out *= dy
        return out


# NumPy has no erfc; math.erfc per element (about 50 ns each) is the C library's. The float32
# result is its correct rounding, within an ulp or two of Eigen's float32 approximation in TensorFlow.
_erfc = np.frompyfunc(math.erfc, 1, 1)


class GELU(Activation):
    """``y = z * Phi(z)``, Phi the standard normal CDF; ``dz = dy * (Phi(z) + z * Phi'(z))``.

    Keras 3's default is exact (``approximate=False``): Phi(z) = erfc(-c z) / 2
    with c = 1/sqrt(2), as tf.nn.gelu computes it (erfc keeps Phi's relative
    precision for z << 0, where 1 + erf(c z) would cancel), so
    Phi'(z) = c exp(-(c z)^2) / sqrt(pi). ``approximate=True`` replaces Phi by
    (1 + tanh(k (z + a z^3))) / 2, k = sqrt(2/pi), a = 0.044715.
    tf.nn.gelu makes c and a tensors with ``cast(python_float, dtype)``, which
    rounds them to float32 first; npnet uses the same rounded constants, so
    float64 results agree to float64 rounding (with the exact 1/sqrt(2) they
    would differ by 4e-9). Needs z in backward. docs/backprop.md#gelu.
    """

    name = "gelu"
    needs_input = True
    _C = float(np.float32(math.sqrt(0.5)))        # 0.70710677..., float32's 1/sqrt(2)
    _A = float(np.float32(0.044715))
    _K = math.sqrt(2 / math.pi)                   # a Python float in TensorFlow's formula: the array's dtype

    def __init__(self, approximate: bool = False):
        self.approximate = check_bool(approximate, "approximate")

    def _tanh_argument(self, z: np.ndarray) -> np.ndarray:
        """u = k (z + a z^3), (N, O)."""
        return z.dtype.type(self._K) * (z + z.dtype.type(self._A) * z ** 3)

    def _cdf(self, z: np.ndarray) -> np.ndarray:
        """Phi(z) (N, O), or its tanh approximation: a new array."""
        if self.approximate:
            return 0.5 * (1.0 + np.tanh(self._tanh_argument(z)))
        return 0.5 * _erfc(-z * z.dtype.type(self._C)).astype(z.dtype)

    def forward(self, z, out):
        np.multiply(z, self._cdf(z), out=out)
        return out

    def backward(self, y, dy, out, z=None):
        if self.approximate:
            # d/dz of z (1 + t)/2 with t = tanh(u): (1 + t)/2 + z (1 - t^2) u'/2, u' = k (1 + 3 a z^2)
            t = np.tanh(self._tanh_argument(z))
            du = z.dtype.type(self._K) * (1 + z.dtype.type(3 * self._A) * z ** 2)
            np.multiply(0.5 * z * (1 - t * t), du, out=out)
            out += 0.5 * (1 + t)
        else:
            c = z.dtype.type(self._C)
            np.multiply(z, np.exp(-np.square(c * z)), out=out)
            out *= c / z.dtype.type(math.sqrt(math.pi))   # z Phi'(z)
            out += self._cdf(z)
        out *= dy
        return out


linear = Linear()
relu = ReLU()
sigmoid = Sigmoid()
tanh = Tanh()
softmax = Softmax()
leaky_relu = LeakyReLU()
elu = ELU()
softplus = Softplus()
silu = SiLU()
swish = silu   # Keras's alias: the same function, named "silu"
gelu = GELU()

_REGISTRY: dict[str, Activation] = {a.name: a for a in (linear, relu, sigmoid, tanh, softmax, leaky_relu, elu,
                                                       softplus, silu, gelu)}
_ALIASES: dict[str, Activation] = {"swish": silu}

ActivationLike = Union[None, str, Activation, Callable]


def names() -> list[str]:
    """The registered activation names, sorted."""
    return sorted(_REGISTRY)


def serialize(activation: Activation, owner: str) -> str:
    """The registered name of ``activation``, for configs; refuses an unregistered one, naming ``owner``."""
    if _REGISTRY.get(activation.name) is not activation:
        raise ValueError(f"{owner}: activation {activation.name!r} is not one of npnet's registered activations "
                         f"({', '.join(names())}), so it cannot be saved by name")
    return activation.name


def get(identifier: ActivationLike) -> Activation:
    """The activation named ``identifier`` (``None`` means linear), or the given instance.

    Only ``Activation`` objects are accepted besides names: npnet needs each
    activation's backward, which an arbitrary callable does not provide.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        found = _REGISTRY.get(identifier) or _ALIASES.get(identifier)
        if found is None:
            raise ValueError(f"unknown activation {identifier!r}; expected one of "
                             f"{sorted([*_REGISTRY, *_ALIASES])} or None")
        return found
    if isinstance(identifier, Activation):
        return identifier
    raise TypeError("activation must be None, a name or an npnet.activations.Activation "
                    f"(npnet needs its backward), got {identifier!r}")
