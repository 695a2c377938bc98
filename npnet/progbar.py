"""Keras-style progress display: a live bar on a terminal, one line per epoch elsewhere."""
from __future__ import annotations

import sys
import time
from typing import TextIO

import numpy as np

_BAR_WIDTH = 20


def format_logs(logs: dict[str, float | np.ndarray]) -> str:
    """``" - loss: 0.3117 - accuracy: 0.8536"``, as Keras prints them (tiny values as ``1.2346e-04``).

    An array value (``F1Score(average=None)``, per class) shows as its mean, as in Keras's progress bar.
    """
    means = {key: float(np.mean(value)) for key, value in logs.items()}
    return "".join(f" - {key}: {value:.4f}" if abs(value) > 1e-3 else f" - {key}: {value:.4e}"
                   for key, value in means.items())


def _format_step_time(seconds: float) -> str:
    """Keras's time per step: ``2s/step``, ``31ms/step``, ``140us/step``."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    return f"{seconds * 1e3:.0f}ms/step" if seconds >= 1e-3 else f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """Draws ``current/target ━━━━━━━━━━━━━━━━━━━━ 1s 3ms/step - loss: ...``.

    As Keras: while running, the time shown is the estimated time left;
    on the final step, the whole epoch's time in seconds.

    On a terminal the bar redraws in place (at most every 0.05 s, plus the
    final step); when output is a file or pipe only the final line is written.
    ``verbose=2`` writes one summary line per epoch instead of a bar.
    """

    def __init__(self, target: int, verbose: int = 1, stream: TextIO | None = None):
        self.target, self.verbose = target, verbose
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.last_draw = time.perf_counter()

    def update(self, current: int, logs: dict[str, float]) -> None:
        """Show progress after ``current`` of ``target`` steps with the running ``logs``."""
        now = time.perf_counter()
        final = current >= self.target
        if not final and (not self.live or now - self.last_draw < 0.05):
            return
        self.last_draw = now
        elapsed = now - self.start
        per_step = elapsed / max(current, 1)
        count = f"{current:{len(str(self.target))}d}/{self.target}"
        time_shown = f"{elapsed:.0f}s" if final else f"{per_step * (self.target - current):.0f}s"
        if self.verbose == 2:
            line = f"{count} - {time_shown} - {_format_step_time(per_step)}"
        else:
            filled = _BAR_WIDTH * current // self.target
            bar = "━" * filled + " " * (_BAR_WIDTH - filled) if final else "━" * filled + "─" * (_BAR_WIDTH - filled)
            line = f"{count} {bar} {time_shown} {_format_step_time(per_step)}"
        line += format_logs(logs)
        if self.live:
            self.stream.write("\r" + line + "\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
