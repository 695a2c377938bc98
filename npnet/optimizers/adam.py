"""Adam (Kingma & Ba, 2015) in Keras 3's form, with AMSGrad (keras/src/optimizers/adam.py)."""
from __future__ import annotations

from functools import partial
from operator import itemgetter

import numpy as np

from npnet._validation import check_bool
from npnet.calls import Views, maximum, run
from npnet.optimizers import schedules
from npnet.optimizers.base import LearningRate, Optimizer, check_moments, keras_exact, keras_rounded
from npnet.params import with_row_below


class Adam(Optimizer):
    """Adam in Keras 3's form, with "epsilon hat" placement.

    Per step t (1-based), in the parameter dtype:
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g*g - v) * (1 - beta_2)
        v_hat = max(v_hat, v); v = v_hat           (amsgrad only)
        w -= m * alpha / (sqrt(v) + epsilon)
    This equals the paper's lr * m_hat / (sqrt(v_hat) + eps) with
    eps = epsilon / sqrt(1 - beta_2**t), 32x epsilon at t = 1: see docs/backprop.md#adam for the
    size of the difference from the paper's and PyTorch's placement.
    """

    name = "adam"
    hyperparameters = ("beta_1", "beta_2", "epsilon", "amsgrad")
    scratch_names = ("denominator",)

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1, self.beta_2, self.epsilon = check_moments(beta_1, beta_2, epsilon)
        self.amsgrad = check_bool(amsgrad, "amsgrad")
        self._step_sizes: list[np.ndarray] = []   # alpha_t of each compiled step of an epoch (0-d arrays)
        # [g; the row below] of the gradient bound last, and its second row: one view for every step
        self._views = Views()
        self._ahead: tuple | None = None   # (key, t - 1 of the first, alpha_t) of steps computed ahead (prepare_steps)
        self._rate_each_step = False   # a callable learning rate: alpha_t computed as each step begins
        self.slot_names = ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

    def step_constants(self, dtype):
        return {"1 - beta_1": np.array(keras_exact(1 - self.beta_1, dtype)),
                "1 - beta_2": np.array(keras_exact(1 - self.beta_2, dtype)),
                "epsilon": np.array(keras_exact(self.epsilon, dtype)), "alpha": np.zeros((), dtype)}

    def update_step(self, grad, param, slots, learning_rate):
        slots["alpha"][...] = self._next_step_size(learning_rate, param.dtype.type)
        run(self.update_calls(grad, param, slots))

    def _next_step_size(self, learning_rate, dtype):
        """alpha_t of the next step, t = iterations + 1, in ``dtype`` (lr already ``keras_rounded``)."""
        return self.step_size(learning_rate, dtype(self.iterations + 1),
                              keras_rounded(self.beta_1, dtype), keras_rounded(self.beta_2, dtype))

    def step_size(self, learning_rate, t, beta_1, beta_2):
        """alpha_t = lr sqrt(1 - beta_2**t) / (1 - beta_1**t) for the step t (1-based), all NumPy scalars
        of the parameters' dtype (lr and the betas float32-rounded first: ``keras_rounded``); or, for
        ``prepare_steps``, t an array of steps (S,) and lr one scalar or an array (S,)."""
        # The operations run in Keras's order, so results agree with Keras bit for bit
        # (tests/parity/test_optimizer_steps.py); over arrays they round as over scalars (IEEE's -, *, /
        # and sqrt are correctly rounded either way), but for the powers: ``_power``.
        return learning_rate * np.sqrt(1 - _power(beta_2, t)) / (1 - _power(beta_1, t))

    # The moments' update over [m; v] (2, P), one call per part for both moments, when P is at most
    # this: 4 calls instead of 7 save 0.7 us per step at the tutorial's P = 915. Above it, two (P,)
    # arrays: the four (2, P) arrays stop fitting in the cache, and the stacked update took 1.7x the
    # time of the two at P = 64,000 and 2.1x at 218,516 (benchmarks/RESULTS.md, single-threaded).
    STACKED_MAX = 16_384

    def build(self, params, variable_sizes=None):
        """The base slots; for an array (not 0-d) of at most ``STACKED_MAX`` parameters the two moments are then
        the rows of one array [m; v] (2, ...), with what updates them (``update_calls``)."""
        super().build(params, variable_sizes)
        self._step_sizes, self._rate_each_step = [], False
        for param, slots in zip(params, self._slots):
            # not a 0-d array: the rows of [m; v] (2,) would be NumPy scalars, copies no update writes into
            if param.ndim and param.size <= self.STACKED_MAX:
                moments = np.zeros((2, *param.shape), param.dtype)
                slots["momentum"], slots["velocity"] = moments      # the saved slots are its rows
                # 1 - beta as full rows: a (2, 1) column broadcasts along the rows 2.5x slower at P = 915
                one_minus_betas = np.stack([np.full_like(param, slots["1 - beta_1"]),
                                            np.full_like(param, slots["1 - beta_2"])])
                slots.update(moments=moments, moment_steps=np.empty_like(moments), gradients=np.empty_like(moments),
                             one_minus_betas=one_minus_betas)

    def slot_arrays(self, slots):
        """[m; v] as one array where they are stacked (``build``), then the other slots."""
        if "moments" not in slots:
            return super().slot_arrays(slots)
        return [slots["moments"], *(slots[name] for name in self.slot_names if name not in ("momentum", "velocity"))]

    def __getstate__(self):
        """For pickle and copy.deepcopy: without the step sizes computed ahead (their key holds ``step_size``)."""
        return {**self.__dict__, "_ahead": None}

    def __setstate__(self, state):
        """After pickle or ``copy.deepcopy``, which copy each row of [m; v] as an array of its own: the
        saved slots are made rows of the copied [m; v] again. (An Adam pickled before fit prepared
        step sizes has none yet.)"""
        self.__dict__.update({"_step_sizes": [], "_rate_each_step": False, "_ahead": None,
                              "_views": Views(), **state})
        for slots in self._slots or []:
            if "moments" in slots:
                slots["momentum"], slots["velocity"] = slots["moments"]

    def update_calls(self, grad, param, slots, gradients=None):
        """The update of ``param`` from ``grad`` as NumPy calls, with alpha_t read from slots["alpha"].

        With [m; v] stacked (``build``), ``gradients`` (2, ...) is an array whose first row is ``grad``
        and whose second is free, as a model's gradient buffer (``npnet.params.with_row_below``);
        without one, grad is copied into Adam's own first.
        """
        m, v, tmp, denominator = slots["momentum"], slots["velocity"], slots["tmp"], slots["denominator"]
        if "moments" not in slots:
            calls = [partial(np.subtract, grad, m, tmp),
                     partial(np.multiply, tmp, slots["1 - beta_1"], tmp),
                     partial(np.add, m, tmp, m),                    # m += (g - m) * (1 - beta_1)
                     partial(np.square, grad, tmp),
                     partial(np.subtract, tmp, v, tmp),
                     partial(np.multiply, tmp, slots["1 - beta_2"], tmp),
                     partial(np.add, v, tmp, v)]                    # v += (g*g - v) * (1 - beta_2)
        else:
            moments, steps = slots["moments"], slots["moment_steps"]
            calls = []
            if gradients is None:
                gradients = slots["gradients"]
                calls.append(partial(np.copyto, gradients[0], grad))
            calls += [partial(np.square, grad, self._views("g*g", gradients, itemgetter(1))),   # [g; g*g]
                      partial(np.subtract, gradients, moments, steps),
                      partial(np.multiply, steps, slots["one_minus_betas"], steps),
                      partial(np.add, moments, steps, moments)]   # [m; v] += ([g; g*g] - [m; v]) * [1 - beta_1; 1 - beta_2]
        if self.amsgrad:
            calls.append(partial(maximum, slots["velocity_hat"], v, slots["velocity_hat"]))   # v_hat = max(v_hat, v)
            v = slots["velocity_hat"]
        return calls + [partial(np.multiply, m, slots["alpha"], tmp),
                        partial(np.sqrt, v, denominator),
                        partial(np.add, denominator, slots["epsilon"], denominator),
                        partial(np.divide, tmp, denominator, tmp),
                        partial(np.subtract, param, tmp, param)]    # w -= m * alpha / (sqrt(v) + epsilon)

    def apply_calls(self, pairs, step, span=None):
        """fit's step number ``step`` of an epoch as calls: count the step, then ``update_calls`` on the
        model's buffers with alpha_t read from this step's entry of the epoch's step sizes
        (``prepare_steps``), squaring the gradient into the row below it.

        With clipping or weight decay (each a step of its own before the update), or a subclass's own
        ``update_step``, the one call of ``apply``. ``span``, a slice of the parameters when
        ``splits_parameters``: the update of that slice alone, without the count (fit's split step,
        npnet.training.split, counts the step once: ``count_calls``); every slot the size of the
        parameters is cut the same way, as Adam's update is elementwise.
        """
        if not self.splits_parameters or len(pairs) != 1:
            return super().apply_calls(pairs)
        (grad, param), slots = pairs[0], self._slots[0]
        while len(self._step_sizes) <= step:
            self._step_sizes.append(np.zeros((), param.dtype))
        slots = {**slots, "alpha": self._step_sizes[step]}
        # g*g goes into the row below the gradient in the model's buffer; a subclass's own update_calls
        # gets the three arguments it was written for
        rows = ({"gradients": self._views("[g; g*g]", grad, with_row_below)}
                if type(self).update_calls is Adam.update_calls else {})
        if span is None:
            return [*self.count_calls(step), *self.update_calls(grad, param, slots, **rows)]
        size = param.size
        slots = {name: array[..., span] if array.ndim and array.shape[-1] == size else array
                 for name, array in slots.items()}
        rows = {name: None if array is None else array[:, span] for name, array in rows.items()}
        return self.update_calls(grad[span], param[span], slots, **rows)

    @property
    def splits_parameters(self) -> bool:
        """Whether ``apply_calls`` takes a slice of the parameters: an update of NumPy calls, elementwise."""
        return not (self._clipping or self.weight_decay is not None) and type(self).update_step is Adam.update_step

    def count_calls(self, step):
        """The call that counts fit's step number ``step`` of an epoch (and computes its alpha_t if the
        learning rate is a callable, as ``update_step`` does)."""
        return [partial(self._count_step, self._step_sizes[step])]

    def prepare_steps(self, first, count):
        """alpha_t of the next ``count`` steps into the step sizes of compiled steps ``first`` ..
        ``first + count - 1``, all at once before them: a call per step that computed alpha_t
        took 2.7 us of each 40 us step in the tutorial's fit (its code was no longer in the CPU's
        caches by the time each step came back to it). A callable learning rate is instead read as
        each step begins, as Keras reads it (it may look at this optimizer's state): ``_count_step``."""
        rate = self._learning_rate
        self._rate_each_step = callable(rate) and not isinstance(rate, schedules.LearningRateSchedule)
        if not self._step_sizes or self._rate_each_step:   # no compiled steps (apply's path), or later
            return
        dtype = self._step_sizes[0].dtype.type
        beta_1, beta_2 = keras_rounded(self.beta_1, dtype), keras_rounded(self.beta_2, dtype)
        done = range(self.iterations, self.iterations + count)   # the steps done before each
        if type(self).step_size is Adam.step_size and type(self._learning_rate) is float:
            values = self._steps_ahead(done, keras_rounded(self._learning_rate, dtype), beta_1, beta_2)
        elif type(self).step_size is Adam.step_size:   # over all the steps at once: 32 against 48 us an epoch
            t = np.arange(done.start + 1, done.stop + 1).astype(dtype)   # in the tutorial's fit (2-core AMD EPYC)
            # a schedule, evaluated at each step's own count
            learning_rate = np.array([keras_rounded(self._current_learning_rate(d), dtype) for d in done])
            values = self.step_size(learning_rate, t, beta_1, beta_2)
        else:   # a subclass's own step_size, written for one step
            values = [self.step_size(keras_rounded(self._current_learning_rate(d), dtype), dtype(d + 1), beta_1, beta_2)
                      for d in done]
        for alpha, value in zip(self._step_sizes[first:first + count], values):
            alpha[...] = value

    # A constant learning rate's alpha_t are computed this many steps ahead (at least an epoch's): an epoch
    # then takes its own from them. Two C pow calls a step (``_power``) and the rest took 15.5 of the 16 us
    # that preparing an epoch took in the tutorial's fit (single-threaded, 2-core AMD EPYC, hot caches).
    STEPS_AHEAD = 256

    def _steps_ahead(self, done, learning_rate, beta_1, beta_2):
        """alpha_t of the steps after those ``done`` (a range of step counts) for a constant learning rate,
        from those computed ahead while the rate, the betas and ``step_size`` stay the same."""
        key = (type(learning_rate), learning_rate, beta_1, beta_2, self.step_size)
        if self._ahead is None or self._ahead[0] != key or not (
                self._ahead[1] <= done.start and done.stop <= self._ahead[1] + len(self._ahead[2])):
            dtype = type(learning_rate)
            t = np.arange(done.start + 1, done.start + max(len(done), self.STEPS_AHEAD) + 1).astype(dtype)
            self._ahead = (key, done.start, self.step_size(learning_rate, t, beta_1, beta_2))
        _, start, values = self._ahead
        return values[done.start - start:done.stop - start]

    def _count_step(self, alpha):
        """What ``apply`` does once per step besides the update: count it, its alpha_t prepared (or, for a
        callable learning rate, computed now into ``alpha``, as ``update_step`` does)."""
        if self._rate_each_step:
            dtype = alpha.dtype.type
            alpha[...] = self._next_step_size(keras_rounded(self._current_learning_rate(), dtype), dtype)
        self.iterations += 1


def _power(beta, t):
    """beta ** t: C's pow on NumPy scalars (correctly rounded, as TensorFlow's), for a scalar step t or each
    entry of an array of steps t (S,). Not np.power's SIMD loop, which is not, and moved float32 Adam by an
    ulp (0.5 ** (2/3): 0.6299605 vs 0.62996054)."""
    if not isinstance(t, np.ndarray):
        return beta ** t
    return np.array([beta ** step for step in t], t.dtype)
