"""Keras's serialized form of a registered object: ``{"class_name": ..., "config": {...}}``, both ways."""
from __future__ import annotations

from typing import Any


def serialize(obj: Any, registry: dict[str, type], kind: str) -> dict[str, Any]:
    """``{"class_name": type(obj).__name__, "config": obj.get_config()}``, for an object of a registered class."""
    if registry.get(type(obj).__name__) is not type(obj):
        raise ValueError(f"{obj!r} is not one of npnet's {kind}s, so it cannot be serialized")
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


# What Keras's serialize_keras_object adds beside class_name and config; a Keras layer's config holds
# its initializers and regularizers in that form, which npnet.interop.from_keras hands on.
_KERAS_KEYS = {"module", "registered_name"}


def deserialize(data: Any, registry: dict[str, type], kind: str) -> Any:
    """The object that ``serialize`` (or Keras's ``serialize``) described: ``registry[class_name].from_config(config)``."""
    if (not isinstance(data, dict) or not {"class_name", "config"} <= set(data) <= {"class_name", "config"} | _KERAS_KEYS
            or not isinstance(data["config"], dict)):
        raise ValueError(f"a serialized {kind} is {{'class_name': ..., 'config': {{...}}}}, got {data!r}")
    if data["class_name"] not in registry:
        raise ValueError(f"unknown {kind} {data['class_name']!r}; expected one of {sorted(registry)}")
    return registry[data["class_name"]].from_config(data["config"])
