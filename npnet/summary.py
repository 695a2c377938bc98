"""``model.summary()``'s table: layers, output shapes and parameter counts, laid out as Keras 3 prints them."""
from __future__ import annotations

from typing import Any

from npnet import params


def readable_size(size: float) -> str:
    """Bytes as Keras's summary shows them: "3.57 KB", "0.00 B" (keras/src/utils/summary_utils.py)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def summary_text(model: Any) -> str:
    """The summary of a ``Sequential`` (read through its public surface), as one string."""
    rule = "_" * 65
    lines = [f'Model: "{model.name}"', rule, f" {'Layer (type)':<28}{'Output Shape':<26}Param #", "=" * 65]
    input_dim = model.input_shape[1]
    for index, layer in enumerate(model.layers):
        width = None if input_dim is None else params.output_dim(model.layers[:index + 1], input_dim)
        shape = (None, width if width is not None else getattr(layer, "units", None))
        count = layer.count_params() if layer.built else "0 (unbuilt)"
        lines.append(f" {f'{layer.name} ({type(layer).__name__})':<28}{str(shape):<26}{count}")
    lines.append("=" * 65)
    if model.built:
        buffer, itemsize = model.parameters, model.dtype.itemsize
        for label, count in (("Total", buffer.size), ("Trainable", buffer.trainable_size),
                             ("Non-trainable", buffer.size - buffer.trainable_size)):
            lines.append(f"{label} params: {count} ({readable_size(count * itemsize)})")
    else:
        lines.append("Total params: unknown until the model is built (input size not yet known)")
    lines.append(rule)
    return "\n".join(lines)
