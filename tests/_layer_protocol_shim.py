"""TEMPORARY (regnorm phase 1): load npnet/layers/{dropout,normalization}.py before the layer protocol lands.

On this branch ``npnet.layers`` is still a module, so ``npnet.layers.base``
does not exist yet. This shim registers a minimal stand-in for it (only what
SPEC.md names) and loads the two modules from their files. It goes away when
the protocol (issue 12) is merged and the layers import normally.
"""
from __future__ import annotations

import importlib.util
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npnet.params import ParameterBuffer

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Weight:
    name: str
    shape: tuple[int, ...]
    initializer: Any
    trainable: bool = True
    regularizer: Any = None


class Layer:
    def __init__(self, name=None, trainable=True):
        self.name = name or re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()
        self.trainable = trainable
        self.built = False

    def build(self, input_dim, dtype):
        spec = self.weights_spec(input_dim)
        self.buffer = ParameterBuffer([w.shape for w in spec], np.dtype(dtype))
        grads = [g if w.trainable and self.trainable else None for w, g in zip(spec, self.buffer.grad_views)]
        self.bind(input_dim, self.buffer.value_views, grads)
        for w, view in zip(spec, self.buffer.value_views):
            view[...] = w.initializer(w.shape, view.dtype)

    def get_weights(self):
        return [v.copy() for v in self.buffer.value_views]

    def set_weights(self, weights):
        for view, w in zip(self.buffer.value_views, weights):
            view[...] = w

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable}


def load():
    """(dropout module, normalization module)."""
    if "npnet.layers.base" not in sys.modules:
        base = types.ModuleType("npnet.layers.base")
        base.Layer, base.Weight = Layer, Weight
        sys.modules["npnet.layers.base"] = base
    modules = []
    for name in ("dropout", "normalization"):
        spec = importlib.util.spec_from_file_location(f"npnet_layers_{name}", ROOT / "npnet" / "layers" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules
