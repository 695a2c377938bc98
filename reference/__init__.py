"""The ground truth: the tutorial's model in Keras 3 (TensorFlow), which npnet is checked against.

Needs the ``reference`` extra (``pip install -e '.[reference]'``). Run from the
repository root: ``python -m reference.tutorial`` (the tutorial's script as
published) or ``python -m reference.parity`` (npnet and Keras side by side).
"""
