"""npnet: the Keras multilabel tutorial's network, from scratch in NumPy, behind Keras's API."""
import importlib
from types import ModuleType

from npnet import (activations, backend, callbacks, gradcheck, initializers, layers, losses, metrics, models,
                   optimizers, regularizers, trace, training, utils)
from npnet.layers import Input
from npnet.models import Sequential

__version__ = "0.1.0"

__all__ = ["Input", "Sequential", "activations", "backend", "callbacks", "gradcheck", "initializers", "layers",
           "losses", "metrics", "models", "optimizers", "regularizers", "trace", "training", "utils",
           "__version__"]

# The tools built on the core, imported on first use: ``import npnet`` stays light (no scikit-learn,
# matplotlib or pytest), and ``npnet.testing.assert_matches_keras`` works after it, as the README writes it.
_ON_FIRST_USE = ("bugs", "cli", "datasets", "interop", "plots", "preprocessing", "pytest_plugin", "report", "saving",
                 "sklearn", "testing", "thresholds", "trace_plot", "tutorial")


def __getattr__(name: str) -> ModuleType:
    if name in _ON_FIRST_USE:
        return importlib.import_module(f"npnet.{name}")
    raise AttributeError(f"module 'npnet' has no attribute {name!r}")
