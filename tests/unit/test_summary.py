"""npnet.summary: Sequential.summary() as Keras 3 prints it."""
from __future__ import annotations

import npnet
from npnet.layers import Dense


def test_summary_lists_layers_shapes_and_parameter_counts():
    model = npnet.Sequential([Dense(32, activation="relu", input_dim=6), Dense(16, activation="relu"),
                              Dense(8, activation="relu"), Dense(3, activation="sigmoid")], name="tutorial")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "tutorial"' in text and "(None, 32)" in text and "(None, 3)" in text
    assert "Total params: 915" in text      # 6*32+32 + 32*16+16 + 16*8+8 + 8*3+3
    assert [str(n) in text for n in (224, 528, 136, 27)] == [True] * 4
