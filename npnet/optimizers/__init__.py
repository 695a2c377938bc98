"""Optimizers with Keras 3's update rules, applied to whole arrays in place.

One module per optimizer (its ``update_step``) and one registry line here;
the shared machinery (learning rate and schedules, clipping, weight decay,
slots, state for files) is in ``base``. Side by side with PyTorch and the
papers: docs/optimizers.md.
"""
from __future__ import annotations

from typing import Any, Union

from npnet.optimizers import schedules
from npnet.optimizers.adadelta import Adadelta
from npnet.optimizers.adagrad import Adagrad
from npnet.optimizers.adam import Adam
from npnet.optimizers.adamax import Adamax
from npnet.optimizers.adamw import AdamW
from npnet.optimizers.base import Optimizer, keras_exact, keras_rounded
from npnet.optimizers.nadam import Nadam
from npnet.optimizers.rmsprop import RMSprop
from npnet.optimizers.sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "Nadam", "Optimizer", "OptimizerLike", "RMSprop", "SGD",
           "from_config", "get", "keras_exact", "keras_rounded", "names", "register", "registered",
           "schedules"]

OptimizerLike = Union[str, Optimizer]
_REGISTRY: dict[str, type[Optimizer]] = {}


def register(cls: type[Optimizer]) -> type[Optimizer]:
    """Make ``cls`` known to ``get`` and ``from_config`` under its Keras string name ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> dict[str, type[Optimizer]]:
    """A copy of the registry: Keras string name -> class."""
    return dict(_REGISTRY)


register(SGD)
register(Adam)
register(AdamW)
register(RMSprop)
register(Adagrad)
register(Adadelta)
register(Adamax)
register(Nadam)


def names() -> list[str]:
    """The registered optimizer names, sorted (the CLI's choices, interop's table)."""
    return sorted(_REGISTRY)


def get(identifier: OptimizerLike) -> Optimizer:
    """An Optimizer from its Keras name (``"adam"``, ``"RMSprop"``, ...; default settings) or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _REGISTRY:
        return _REGISTRY[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; expected one of {sorted(_REGISTRY)} or an Optimizer")


def from_config(config: Any) -> Optimizer:
    """A fresh Optimizer from ``Optimizer.get_config()`` data (a schedule given as its serialized dict)."""
    if not isinstance(config, dict) or config.get("name") not in _REGISTRY:
        raise ValueError(f"an optimizer config must be a dict naming one of {sorted(_REGISTRY)}, got {config!r}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    if isinstance(arguments.get("learning_rate"), dict):
        arguments["learning_rate"] = schedules.deserialize(arguments["learning_rate"])
    return _REGISTRY[config["name"]](**arguments)
