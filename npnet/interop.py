"""Move models between npnet and Keras: ``to_keras(model)`` and ``from_keras(keras_model)``.

Needs the ``reference`` extra (TensorFlow); Keras is imported only inside
these functions. A Keras Dense kernel is (I, O) and its bias (O,), in the
same order as npnet's ``get_weights()``, so weights move unchanged.
``to_keras`` also gives the twin the optimizer's state (the step count and
Adam's moments or SGD's velocity), so it trains on from where the model
stands; ``from_keras`` starts a fresh optimizer with the same hyperparameters.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from npnet import layers as layers_module, losses, metrics, optimizers
from npnet.models import Sequential

# Keras's class name for each npnet optimizer (npnet's classes carry Keras's names, and their slots
# Keras's slot names: a slot's variable for one weight is "<weight path>_<slot>", add_optimizer_variables).
_KERAS_OPTIMIZERS = {name: optimizers.registered()[name].__name__ for name in optimizers.names()}
# Keras optimizer arguments npnet has no counterpart for, with the values that mean "off".
_KERAS_ONLY_OPTIMIZER_ARGUMENTS = {"use_ema": False, "loss_scale_factor": None, "gradient_accumulation_steps": None}
# npnet metrics that have a Keras class of the same name and constructor arguments (get_config()).
_METRICS = {cls.__name__: cls for cls in (metrics.BinaryAccuracy, metrics.Precision, metrics.Recall,
                                          metrics.AUC, metrics.F1Score, metrics.CategoricalAccuracy,
                                          metrics.SparseCategoricalAccuracy, metrics.TopKCategoricalAccuracy,
                                          metrics.MeanSquaredError, metrics.MeanAbsoluteError,
                                          metrics.RootMeanSquaredError, metrics.R2Score)}
# npnet losses whose Keras class has the same name and takes get_config()'s other entries as arguments.
_LOSSES = {cls.__name__: cls for cls in (losses.BinaryCrossentropy, losses.CategoricalCrossentropy,
                                         losses.SparseCategoricalCrossentropy, losses.MeanSquaredError,
                                         losses.MeanAbsoluteError, losses.Huber)}


def _keras():
    try:
        import keras
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("npnet.interop needs Keras: pip install 'npnet[reference]'") from None
    return keras


def to_keras(model: Sequential) -> Any:
    """A Keras ``Sequential`` with the same layers, weights, dtype and, if compiled, the same compile
    settings and optimizer state (step count and slots).

    Metrics named ``"accuracy"``/``"acc"`` become ``keras.metrics.BinaryAccuracy``
    under the same name, because that is what they mean in npnet (README).
    Each metric becomes the Keras class of the same name with the same
    arguments, in the model's dtype (so a float64 model's twin thresholds in float64).
    """
    keras = _keras()
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an npnet Sequential, got {type(model).__name__}")
    if not model.built:
        raise ValueError("model has no weights yet: build it (give an input size) or fit it first")
    dtype = model.dtype.name
    # An npnet layer's config holds Keras's constructor arguments of the class of the same name.
    keras_model = keras.Sequential(
        [keras.Input(shape=(model.input_shape[1],), dtype=dtype)]
        + [getattr(keras.layers, _registered_class(layer).__name__)(**layer.get_config(), dtype=dtype)
           for layer in model.layers],
        name=model.name)
    keras_model.set_weights(model.get_weights())
    if model.loss is not None:
        if getattr(model.loss, "pos_weight", None) is not None:
            raise ValueError("the model's loss has pos_weight, which Keras's BinaryCrossentropy does not offer "
                             "(TensorFlow's tf.nn.weighted_cross_entropy_with_logits computes the same loss)")
        keras_model.compile(
            optimizer=_optimizer_to_keras(keras, model.optimizer),
            loss=_loss_to_keras(keras, model.loss, dtype),
            metrics=[_metric_to_keras(keras, metric, dtype) for metric in model.metrics])
        _optimizer_state_to_keras(model, keras_model)
    return keras_model


def _optimizer_state_to_keras(model: Sequential, keras_model: Any) -> None:
    """Give the twin's optimizer npnet's step count and slot values (``optimizer.get_state()``).

    Keras creates its slots in ``optimizer.build(trainable_variables)``, one
    variable per trainable weight and slot, in weight order; npnet's optimizer holds
    each slot as one flat array over the trainable part of the model's parameter
    buffer (the model hands it a single (grads, values) pair), cut here into the
    trainable weights' shapes. Nadam's running product is one more variable, ``_u_product``.
    """
    optimizer, keras_optimizer = model.optimizer, keras_model.optimizer
    keras_optimizer.build(keras_model.trainable_variables)
    keras_optimizer.iterations.assign(optimizer.iterations)
    state = optimizer.get_state()
    if len(state) == 1:   # no step taken yet: Keras's initial slots are npnet's
        return
    shapes = [weight.shape for weight in model.trainable_weights]
    offsets = np.cumsum([math.prod(shape) for shape in shapes])[:-1]
    for name in optimizer.slot_names:
        variables = [variable for variable in keras_optimizer.variables if variable.name.endswith(f"_{name}")]
        for variable, value, shape in zip(variables, np.split(state[f"{name}_0"], offsets), shapes, strict=True):
            variable.assign(value.reshape(shape))
    if "u_product" in state:
        keras_optimizer._u_product.assign(state["u_product"])


def _loss_to_keras(keras: Any, loss: losses.Loss, dtype: str) -> Any:
    """The Keras loss class of the same name (the loss's, or the npnet class it derives from), same arguments.

    pos_weight is refused above; a subclass's own changes are not carried over
    (``testing.assert_matches_keras`` is how such a subclass is found out).
    """
    cls = next((cls for cls in type(loss).__mro__ if _LOSSES.get(cls.__name__) is cls), None)
    if cls is None:
        raise ValueError(f"the model's loss is a {type(loss).__name__}; Keras counterparts exist for "
                         f"{sorted(_LOSSES)}")
    config = {key: value for key, value in loss.get_config().items() if key not in ("name", "pos_weight")}
    return getattr(keras.losses, cls.__name__)(**config, dtype=dtype)


def _registered_class(layer: layers_module.Layer) -> type:
    """The registered npnet class a layer is (or derives from): Keras's class of the same name is its twin."""
    for cls in type(layer).__mro__:
        if cls.__name__ in layers_module.names() and layers_module.get(cls.__name__) is cls:
            return cls
    raise ValueError(f"layer {layer.name!r} is a {type(layer).__name__}, which has no Keras counterpart "
                     f"(npnet's registered layers: {', '.join(layers_module.names())})")


def _metric_to_keras(keras: Any, metric: metrics.Metric, dtype: str) -> Any:
    if type(metric) not in _METRICS.values():
        raise ValueError(f"metric {metric.name!r} is a {type(metric).__name__}; Keras counterparts exist for "
                         f"{sorted(_METRICS)}")
    return getattr(keras.metrics, type(metric).__name__)(**metric.get_config(), dtype=dtype)


def _activation_name(keras_layer: Any) -> str:
    return getattr(keras_layer.activation, "__name__", repr(keras_layer.activation))


# Keras config entries npnet's layers do not keep: the initializers only matter before the weights are set.
_NOT_CARRIED = ("kernel_initializer", "bias_initializer", "input_dim", "input_shape")


# Keras options npnet's layers do not have, which a Keras layer may hold at any value: the dtype is the
# model's, and renorm_momentum/renorm_clipping mean something only with renorm=True (refused below).
_IGNORED = ("dtype", "renorm_momentum", "renorm_clipping")


def _layer_from_keras(layer: Any) -> layers_module.Layer:
    """The npnet layer of the same class and constructor arguments (the weights are set afterwards).

    Any other Keras option (constraints, renorm, synchronized, rms_scaling, quantization, ...) is
    converted only at its inactive value (None or False) and refused otherwise, naming it.
    """
    cls = layers_module.get(type(layer).__name__)
    parameters = inspect.signature(cls).parameters
    keras_config = layer.get_config()
    unsupported = sorted(key for key, value in keras_config.items()
                         if key not in parameters and key not in _IGNORED and value not in (None, False))
    if unsupported:
        raise ValueError(f"npnet's {cls.__name__} has no {', '.join(unsupported)} "
                         f"(Keras's value: {keras_config[unsupported[0]]!r})")
    config = {key: value for key, value in keras_config.items() if key in parameters and key not in _NOT_CARRIED}
    if "activation" in config:
        config["activation"] = _activation_name(layer)
    return cls(**config)


def from_keras(keras_model: Any) -> Sequential:
    """An npnet ``Sequential`` equal to a Keras model made of Dense layers (weights and compile settings).

    Refuses, naming the layer, anything npnet cannot represent: other layer
    types, other activations, other losses or optimizers.
    """
    keras = _keras()
    if not isinstance(keras_model, keras.Model):
        raise TypeError(f"keras_model must be a Keras model, got {type(keras_model).__name__}")
    layers = [layer for layer in keras_model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers:
        raise ValueError("keras_model has no layers")
    for layer in layers:
        if type(layer).__name__ not in layers_module.names():
            raise ValueError(f"layer {layer.name!r} is a {type(layer).__name__}; npnet has "
                             f"{', '.join(layers_module.names())} layers only (npnet.layers.names())")
        if not layer.built:
            raise ValueError(f"layer {layer.name!r} has no weights yet: build the Keras model first")
    model = Sequential(name=keras_model.name, dtype=str(keras_model.inputs[0].dtype))
    model.add(layers_module.Input(shape=(keras_model.inputs[0].shape[-1],)))
    for layer in layers:
        try:
            model.add(_layer_from_keras(layer))
        except ValueError as error:
            raise ValueError(f"layer {layer.name!r}: {error}") from None
    model.set_weights(keras_model.get_weights())
    if getattr(keras_model, "optimizer", None) is not None and getattr(keras_model, "loss", None) is not None:
        model.compile(optimizer=_optimizer_from_keras(keras_model.optimizer),
                      loss=_loss_from_keras(keras, keras_model.loss),
                      metrics=_metrics_from_keras(keras_model.get_compile_config().get("metrics")))
    return model


def _optimizer_to_keras(keras: Any, optimizer: optimizers.Optimizer) -> Any:
    config = optimizer.get_config()
    if isinstance(config["learning_rate"], dict):   # a schedule: Keras's class of the same name and arguments
        schedule = config["learning_rate"]
        config["learning_rate"] = getattr(keras.optimizers.schedules, schedule["class_name"])(**schedule["config"])
    return getattr(keras.optimizers, _KERAS_OPTIMIZERS[config.pop("name")])(**config)


def _optimizer_from_keras(optimizer: Any) -> optimizers.Optimizer:
    name = type(optimizer).__name__.lower()
    if name not in _KERAS_OPTIMIZERS:
        raise ValueError(f"optimizer {type(optimizer).__name__} has no npnet counterpart "
                         f"({', '.join(_KERAS_OPTIMIZERS.values())})")
    config = optimizer.get_config()
    for key, off in _KERAS_ONLY_OPTIMIZER_ARGUMENTS.items():
        if config.get(key, off) != off:
            raise ValueError(f"the Keras optimizer has {key}={config[key]!r}, which npnet does not offer")
    npnet_class = optimizers.registered()[name]
    arguments = {key: config[key] for key in npnet_class().config_names}
    if isinstance(arguments["learning_rate"], dict):
        arguments["learning_rate"] = optimizers.schedules.deserialize(
            {"class_name": arguments["learning_rate"]["class_name"], "config": arguments["learning_rate"]["config"]})
    return npnet_class(**arguments)


# Keras loss arguments npnet does not have, and the values at which that makes no difference.
_KERAS_LOSS_DEFAULTS = {"axis": -1, "reduction": "sum_over_batch_size", "ignore_class": None}


def _loss_from_keras(keras: Any, loss: Any) -> losses.Loss:
    """npnet's loss for a Keras loss object of a class npnet has, or a name or function npnet registers."""
    if isinstance(loss, keras.losses.Loss) and type(loss).__name__ in _LOSSES:
        cls, config = _LOSSES[type(loss).__name__], loss.get_config()
        accepted = inspect.signature(cls).parameters
        unsupported = {key: value for key, value in config.items() if key not in accepted
                       and key not in ("name", "dtype") and _KERAS_LOSS_DEFAULTS.get(key, object()) != value}
        if unsupported:
            raise ValueError(f"loss {type(loss).__name__}: npnet's {cls.__name__} has no {unsupported}")
        return cls(**{key: value for key, value in config.items() if key in accepted})
    identifier = loss if isinstance(loss, str) else getattr(loss, "__name__", None)
    if identifier in losses.names():
        return losses.get(identifier)
    raise ValueError(f"loss {loss!r} has no npnet counterpart ({', '.join(losses.names())})")


def _metrics_from_keras(metrics_config: Any) -> list[Any] | None:
    """Keras's compile-config metrics as npnet metrics: registered names, and the classes in ``_METRICS``.

    A class is converted when every argument npnet lacks (top_k, class_id,
    label_weights, from_logits, ...) has its default (None/False).
    """
    if not metrics_config:
        return None
    converted = []
    for metric in metrics_config if isinstance(metrics_config, list) else [metrics_config]:
        if isinstance(metric, str):
            converted.append(metric)   # npnet.metrics.get refuses names it does not know
            continue
        cls = _METRICS.get(metric.get("class_name")) if isinstance(metric, dict) else None
        if cls is None:
            raise ValueError(f"metric {metric!r} has no npnet counterpart ({sorted(_METRICS)})")
        config, accepted = metric["config"], inspect.signature(cls).parameters
        unsupported = {key: value for key, value in config.items()
                       if key not in accepted and key != "dtype" and value not in (None, False)}
        if unsupported:
            raise ValueError(f"metric {config.get('name')!r}: npnet's {cls.__name__} has no {unsupported}")
        converted.append(cls(**{key: value for key, value in config.items() if key in accepted}))
    return converted
