"""npnet: the Keras multilabel tutorial's network, from scratch in NumPy, behind Keras's API."""
from npnet import (activations, backend, callbacks, gradcheck, initializers, layers, losses, metrics, models,
                   optimizers, regularizers, trace, training, utils)
from npnet.layers import Input
from npnet.models import Sequential

__version__ = "0.1.0"

__all__ = ["Input", "Sequential", "activations", "backend", "callbacks", "gradcheck", "initializers", "layers",
           "losses", "metrics", "models", "optimizers", "regularizers", "trace", "training", "utils",
           "__version__"]
