"""The tolerance of the float64 finite-difference checks in tests/unit/.

Measured on this machine (eps 1e-6, float64) and the tolerance chosen:
activations 3e-9-6e-9, Dense <= 5.5e-10, BCE from logits 2.4e-9 and from
probabilities 1.7e-9, whole models <= 1e-6 (worst at near-zero entries,
absolute error 1.4e-10). Tolerance 1e-5 everywhere: two to four orders
above the noise, while the broken backwards below miss by more than 1e-2.
"""
from __future__ import annotations


TOLERANCE = 1e-5
