"""Layers, and the registry that names them by their Keras class names.

Adding a layer is one module with a ``Layer`` subclass (``npnet.layers.base``
says what it implements) plus one ``register`` call; saving, loading, the
CLI's and interop's name lists all read the registry.
"""
from __future__ import annotations

import inspect
from typing import Any

from npnet.layers.activation import Activation
from npnet.layers.base import Layer, Weight, unique_name
from npnet.layers.dense import Dense
from npnet.layers.dropout import Dropout
from npnet.layers.input import Input, InputLayer
from npnet.layers.normalization import BatchNormalization, LayerNormalization

_REGISTRY: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Make ``cls`` known by its class name (Keras's ``class_name``); usable as a decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"only npnet.layers.Layer subclasses can be registered, got {cls!r}")
    _REGISTRY[cls.__name__] = cls
    return cls


def names() -> list[str]:
    """The registered layer class names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> type[Layer]:
    """The layer class registered as ``name`` ("Dense", "Activation", ...)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown layer class {name!r}; expected one of {names()}")
    return _REGISTRY[name]


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": "Dense", "config": {...}}``: what a saved model stores per layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(data: Any, where: str = "the layer config") -> Layer:
    """A new, unbuilt layer from ``serialize`` data.

    Refuses classes npnet does not know, and any key its ``get_config`` would not
    write: a file holding one was not written by npnet.
    """
    if not isinstance(data, dict) or set(data) != {"class_name", "config"} or not isinstance(data["config"], dict):
        raise ValueError(f"{where} must be {{'class_name': ..., 'config': {{...}}}}, got {data!r}")
    cls = get(data["class_name"])
    config, accepted = data["config"], set(inspect.signature(cls).parameters)
    layer = cls(**config) if set(config) <= accepted else None
    allowed = set(layer.get_config()) if layer is not None else accepted
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {where} (a {cls.__name__} config holds only "
                         f"{', '.join(sorted(allowed))})")
    return layer


register(Dense)
register(Activation)
register(Dropout)
register(BatchNormalization)
register(LayerNormalization)

__all__ = ["Activation", "BatchNormalization", "Dense", "Dropout", "Input", "InputLayer", "Layer",
           "LayerNormalization", "Weight", "deserialize", "get", "names", "register", "serialize", "unique_name"]
