"""``Input``: declares a ``Sequential`` model's number of input features; not a layer of the model (as in Keras)."""
from __future__ import annotations

from npnet.layers.base import check_input_dim, unique_name


class InputLayer:
    """Declares the number of input features of a ``Sequential`` model; has no parameters."""

    def __init__(self, shape: tuple[int] | list[int], name: str | None = None):
        self.input_dim = check_input_dim(None, shape)
        self.name = name or unique_name("input_layer")


def Input(shape: tuple[int] | list[int], name: str | None = None) -> InputLayer:
    """``npnet.Input(shape=(n_features,))``, to place first in a ``Sequential``."""
    return InputLayer(shape, name=name)
