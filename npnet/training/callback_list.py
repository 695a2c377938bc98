"""``CallbackList``: every Keras 3 hook, sent to the callbacks that override it (keras/src/callbacks/callback_list.py).

Owns ``callbacks``, the ``History`` that ``fit`` returns and the progress bar.
"""
from __future__ import annotations

from typing import Any

from npnet.callbacks import Callback, History, ProgbarLogger


# Keras 3's Callback.on_train_batch_begin/end call on_batch_begin/end: either override earns the call.
_ALSO_OVERRIDDEN_AS = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}
HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


def _overrides(callback: Callback, hook: str) -> bool:
    """Whether ``callback`` has its own ``hook``: in its class, or set on the object (``LambdaCallback``)."""
    names = (hook, _ALSO_OVERRIDDEN_AS[hook]) if hook in _ALSO_OVERRIDDEN_AS else (hook,)
    return any(name in vars(callback) or getattr(type(callback), name) is not getattr(Callback, name)
               for name in names)


class CallbackList:
    """Calls every hook of a list of callbacks (keras/src/callbacks/callback_list.py), History and progress bar included.

    As Keras's, the given callbacks come first, then a fresh ``History`` if
    ``add_history`` (``history``), then ``progbar``, a ``ProgbarLogger``: so
    the logs History records and the progress bar shows include what the
    callbacks added (``ReduceLROnPlateau``'s ``"learning_rate"``). Each hook goes
    only to the callbacks that override it, so a batch costs nothing when no callback listens.
    """

    def __init__(self, callbacks: Any, model: Any, add_history: bool = False,
                 progbar: ProgbarLogger | None = None):
        callbacks = [] if callbacks is None else callbacks
        if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, Callback) for c in callbacks):
            raise TypeError("callbacks must be a list of npnet.callbacks.Callback")
        self.history = History() if add_history else None
        self.callbacks = list(callbacks) + [c for c in (self.history, progbar) if c is not None]
        for callback in self.callbacks:
            callback.set_model(model)
        self._listeners = {hook: [c for c in self.callbacks if _overrides(c, hook)] for hook in HOOKS}

    def wants(self, hook: str) -> bool:
        """Whether any callback listens to ``hook`` (so its logs are worth computing)."""
        return bool(self._listeners[hook])

    def _fire(self, hook: str, *args: Any) -> None:
        """Call ``hook`` on its listeners; the last argument is the logs, ``{}`` for None as Keras passes them."""
        if self._listeners[hook]:
            args = (*args[:-1], {} if args[-1] is None else args[-1])
            for callback in self._listeners[hook]:
                getattr(callback, hook)(*args)

    def on_train_begin(self, logs=None): self._fire("on_train_begin", logs)
    def on_train_end(self, logs=None): self._fire("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._fire("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._fire("on_epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._fire("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._fire("on_train_batch_end", batch, logs)
    def on_test_begin(self, logs=None): self._fire("on_test_begin", logs)
    def on_test_end(self, logs=None): self._fire("on_test_end", logs)
    def on_test_batch_begin(self, batch, logs=None): self._fire("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._fire("on_test_batch_end", batch, logs)
    def on_predict_begin(self, logs=None): self._fire("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._fire("on_predict_end", logs)
    def on_predict_batch_begin(self, batch, logs=None): self._fire("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None): self._fire("on_predict_batch_end", batch, logs)
