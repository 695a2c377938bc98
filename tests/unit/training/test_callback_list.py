"""npnet.training: every Keras 3 callback hook fires where Keras fires it, in Keras's order."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import interop
from npnet.callbacks import Callback
from npnet.layers import Dense
from npnet.training import HOOKS

BATCH_HOOKS = ("on_batch_begin", "on_batch_end")


def recorder(base: type) -> Callback:
    """A callback of ``base`` (npnet's or Keras's Callback) recording (hook, index, log keys) of every hook.

    on_train_batch_begin/end are not overridden: the base class's own forwarding to
    on_batch_begin/end is part of what is compared.
    """
    calls = []

    def hook(name):
        def record(self, *args, **kwargs):
            logs = kwargs.get("logs", args[-1] if args and isinstance(args[-1], (dict, type(None))) else None)
            index = args[0] if args and isinstance(args[0], int) else None
            calls.append((name, index, None if logs is None else sorted(logs)))
        return record

    names = [h for h in HOOKS if h not in ("on_train_batch_begin", "on_train_batch_end")] + list(BATCH_HOOKS)
    callback = type("Recorder", (base,), {name: hook(name) for name in names})()
    callback.calls = calls
    return callback


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(10, 3)), (rng.random((10, 2)) < 0.5).astype(np.float32)


def run(model, callback):
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_split=0.2, shuffle=False, callbacks=[callback])
    model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[callback])
    model.predict(x, batch_size=4, verbose=0, callbacks=[callback])
    return callback.calls


def test_every_hook_fires_where_keras_fires_it_in_the_same_order(keras):
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(3,)), Dense(4, activation="relu"), Dense(2, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    twin = interop.to_keras(model)
    ours, theirs = run(model, recorder(Callback)), run(twin, recorder(keras.callbacks.Callback))
    assert ours == theirs
    fired = {name for name, _, _ in ours}
    assert fired == (set(HOOKS) - {"on_train_batch_begin", "on_train_batch_end"}) | set(BATCH_HOOKS)


def test_the_validation_pass_during_fit_fires_the_test_hooks():
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(3,)), Dense(2, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    callback = recorder(Callback)
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, validation_split=0.2, callbacks=[callback])
    names = [name for name, _, _ in callback.calls]
    assert names == ["on_train_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end", "on_batch_begin",
                     "on_batch_end", "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                     "on_epoch_end", "on_train_end"]


def test_evaluate_and_predict_refuse_callbacks_that_are_not_callbacks():
    model = npnet.Sequential([npnet.Input(shape=(3,)), Dense(2, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = data()
    with pytest.raises(TypeError, match="callbacks must be a list of npnet.callbacks.Callback"):
        model.evaluate(x, y, callbacks=[print])
    with pytest.raises(TypeError, match="callbacks must be a list of npnet.callbacks.Callback"):
        model.predict(x, callbacks="x")
