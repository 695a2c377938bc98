"""Every hidden ReLU layer's mask [y > 0] of a training step in one or two NumPy calls, over one buffer.

ReLU's backward is ``dz = dy * [y > 0]``, with the mask as 0.0/1.0
(``npnet.activations.ReLU``). One layer at a time, the mask is one
``np.greater`` writing floats, and that is NumPy's slow path: it has vector
loops for comparisons into booleans and for copying booleans into floats, but
a comparison into floats compares, then converts element by element. So fit's
step lays the outputs ``[y 1]`` of all its hidden ReLU Dense layers end to end
in one buffer and takes every mask at once: one comparison into booleans,
one copy into floats. Measured single-threaded on this repository's 2-core
Xeon for the tutorial's three hidden layers (batches of 250 rows, float32):
2.2 + 1.4 + 0.9 µs one layer at a time, 1.2 + 1.5 µs at once. The masks are
the same 0.0s and 1.0s, so nothing else changes (the column of ones gets a
mask of ones, which the layer ignores as it ignores that column's gradient).

Large buffers keep the masks as booleans: from ``BOOLEAN_MASKS_MIN`` entries on
there is no copy into floats, and the backward's product ``dy * mask``
multiplies by the booleans (NumPy casts them to 0.0/1.0 chunk by chunk, in
its buffers: the same numbers, so the same bits). A copy and a product over
floats move 4 bytes of mask per entry twice where the cast product reads 1,
but the cast has a cost per call. Measured single-threaded on the
repository's Xeon, one call over the whole buffer: at 920,000 entries (the
compute-bound epoch's three layers, batches of 1,024) a copy 162 us and a
product over floats 377 us, against 323 us for the product over booleans;
at 100,000 entries 8 + 18 against 27 us and at the tutorial's 14,750
1.5 + 3.3 against 4.7 us, ties. But each layer's product is a call of its
own: with boolean masks forced, the tutorial's fit (three products per step
of 8,250, 4,250 and 2,250 entries) took 63.3 ms against 60.5 ms, alternating
in one process; hence the threshold, between the two.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from npnet.calls import Calls

BOOLEAN_MASKS_MIN = 200_000   # entries of all the masks of a step: from here on, boolean masks (see above)


class ReluBuffers:
    """The arrays of ``layers`` (hidden ReLU Dense layers, ``Layer.relu_output``) for each batch size.

    ``bind(n)`` gives, for a batch of n rows, each layer's output [y 1]
    (n, O+1), column-major as Dense's own (docs/backprop.md#column-major-products;
    row-major with ``row_major``, for fit's split step, whose workers each take a block of rows),
    and its mask (n, O+1), all views of two flat buffers, with the calls
    that fill every mask from the outputs: 0.0/1.0 floats, or booleans from
    ``BOOLEAN_MASKS_MIN`` entries on.
    """

    def __init__(self, layers: list[Any], dtype: np.dtype, row_major: bool = False):
        self.layers, self.dtype, self.row_major = layers, dtype, row_major   # row_major: fit's split step
        self._by_size: dict[int, tuple[dict, dict, Calls]] = {}

    def bind(self, n: int) -> tuple[dict[Any, np.ndarray], dict[Any, np.ndarray], Calls]:
        """({layer: [y 1] (n, O+1)}, {layer: its mask (n, O+1)}, the calls that fill the masks), made once per n."""
        if not self.layers:
            return {}, {}, []
        if n not in self._by_size:
            widths = [layer.units + 1 for layer in self.layers]
            ends = np.cumsum([0] + [n * width for width in widths])
            outputs = np.ones(ends[-1], self.dtype)    # each [y 1] gets its column of ones here, once
            above = np.empty(outputs.shape, bool)
            masks = above if outputs.size >= BOOLEAN_MASKS_MIN else np.empty_like(outputs)

            def views(flat: np.ndarray) -> dict[Any, np.ndarray]:   # (O+1, n) row-major is (n, O+1) column-major
                if self.row_major:   # each block of rows contiguous (npnet.training.split)
                    return {layer: flat[a:b].reshape(n, width)
                            for layer, a, b, width in zip(self.layers, ends, ends[1:], widths)}
                return {layer: flat[a:b].reshape(width, n).T
                        for layer, a, b, width in zip(self.layers, ends, ends[1:], widths)}

            calls = self.layers[0].activation.mask_calls(outputs, masks, above=above)
            self._by_size[n] = (views(outputs), views(masks), calls)
        return self._by_size[n]
