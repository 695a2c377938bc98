"""npnet.progbar: verbose 0, 1 and 2 print as Keras 3 does, numbers in Keras's formats."""
from __future__ import annotations

import re

from npnet.progbar import format_logs

from small_models import data, small_model


def test_verbose_0_prints_nothing_and_2_prints_a_line_per_epoch(capsys):
    x, y = data(n=20)
    small_model().fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    assert capsys.readouterr().out == ""
    small_model().fit(x, y, epochs=2, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.fullmatch(r"1/1 - \d+s - \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}"
                        r" - val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}", lines[1]), lines[1]


def test_progress_logs_use_keras_number_formats():
    assert format_logs({"loss": 0.31174, "accuracy": 0.5, "tiny": 1.23456e-4}) == (
        " - loss: 0.3117 - accuracy: 0.5000 - tiny: 1.2346e-04")


def test_verbose_1_draws_a_progress_bar_per_epoch(capsys):
    x, y = data(n=20)
    small_model().fit(x, y, batch_size=5, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert out.count("4/4 ━━━━━━━━━━━━━━━━━━━━") == 2 and "Epoch 2/2" in out and "accuracy: " in out
