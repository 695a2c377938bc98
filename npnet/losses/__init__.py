"""Losses as Keras names them: functions (one value per sample), classes (one per batch, with backward), strings.

One module per family: ``binary`` (binary crossentropy, sigmoid + BCE),
``categorical`` (categorical and sparse categorical crossentropy, softmax +
crossentropy), ``regression`` (mean squared and absolute error, Huber);
``base`` holds the Loss protocol. This module is the registry:
``get("mse")``, ``get(npnet.losses.huber)``, ``get("CategoricalCrossentropy")``
give a fresh Loss with Keras's defaults; ``from_config`` rebuilds one from
``Loss.get_config()``.
"""
from __future__ import annotations

from typing import Any, Callable, Union

from npnet.losses.base import Loss
from npnet.losses.binary import (BinaryCrossentropy, SigmoidBinaryCrossentropy, balanced_pos_weight,
                                 binary_crossentropy, check_pos_weight)
from npnet.losses.categorical import (CategoricalCrossentropy, SoftmaxCrossentropy, SparseCategoricalCrossentropy,
                                      categorical_crossentropy, sparse_categorical_crossentropy)
from npnet.losses.regression import (Huber, MeanAbsoluteError, MeanSquaredError, huber, mean_absolute_error,
                                     mean_squared_error)

LossLike = Union[str, Loss, Callable]

# Every spelling Keras's losses.get accepts for these losses: class names, function names,
# the instances' default names, Keras's short aliases, and the functions themselves.
_REGISTRY: dict[Any, type[Loss]] = {}
for _cls, _function, _aliases in (
        (BinaryCrossentropy, binary_crossentropy, ("bce", "BCE")),
        (CategoricalCrossentropy, categorical_crossentropy, ()),
        (SparseCategoricalCrossentropy, sparse_categorical_crossentropy, ()),
        (MeanSquaredError, mean_squared_error, ("mse", "MSE")),
        (MeanAbsoluteError, mean_absolute_error, ("mae", "MAE")),
        (Huber, huber, ())):
    for _key in (_cls.__name__, _cls.name, _function.__name__, _function, *_aliases):
        _REGISTRY[_key] = _cls


def names() -> list[str]:
    """The loss names ``compile`` and ``from_config`` accept, sorted."""
    return sorted(key for key in _REGISTRY if isinstance(key, str))


def get(identifier: LossLike) -> Loss:
    """A Loss from a name (``"mse"``, ``"categorical_crossentropy"``, ``"Huber"``), a loss function, or a Loss."""
    if isinstance(identifier, Loss):
        return identifier
    try:
        return _REGISTRY[identifier]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {identifier!r}; expected one of {names()}, one of npnet.losses' functions "
                         "or an npnet.losses.Loss (npnet needs the loss's backward)") from None


def serialize(loss: Loss) -> dict[str, Any]:
    """``loss.get_config()``: what a saved model stores."""
    return loss.get_config()


def from_config(config: Any) -> Loss:
    """The Loss described by ``Loss.get_config()`` data."""
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ValueError(f"a loss config must be a dict with a 'name', got {config!r}")
    if config["name"] not in _REGISTRY:
        raise ValueError(f"unknown loss {config['name']!r}; expected one of {names()}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    try:
        return _REGISTRY[config["name"]](**arguments)
    except TypeError as error:   # keys the constructor does not take
        raise ValueError(f"loss config {config!r}: {error}") from None


__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "Huber", "Loss", "LossLike", "MeanAbsoluteError",
           "MeanSquaredError", "SigmoidBinaryCrossentropy", "SoftmaxCrossentropy", "SparseCategoricalCrossentropy",
           "balanced_pos_weight", "binary_crossentropy", "categorical_crossentropy", "check_pos_weight", "from_config",
           "get", "huber", "mean_absolute_error", "mean_squared_error", "names", "serialize",
           "sparse_categorical_crossentropy"]
