"""Benchmarks: npnet against Keras 3, scikit-learn's MLPClassifier and PyTorch.

Run from the repository root, e.g. ``python -m benchmarks.tutorial``; see
benchmarks/RESULTS.md for the commands and the numbers. Kept import-free so
that ``python -m benchmarks.isolated`` starts from a clean interpreter.
"""
