"""Running one of scikit-learn's estimator checks on an npnet estimator, with its allowed skips."""
from __future__ import annotations

from typing import Any, Callable
from unittest import SkipTest

# Checks scikit-learn skips for npnet's estimators, and why.
NOT_APPLICABLE = {
    "check_array_api_input": "SCIPY_ARRAY_API is not set",   # npnet computes with NumPy only
    "check_classifiers_multilabel_output_format_decision_function": "does not have a decision_function",
}


def run_estimator_check(estimator: Any, check: Callable[[Any], None]) -> None:
    """``check(estimator)``; a skip passes only when scikit-learn gives the reason listed in NOT_APPLICABLE."""
    name = getattr(check, "func", check).__name__
    try:
        check(estimator)
    except SkipTest as skip:   # scikit-learn's own verdict that a check does not apply, checked by reason
        assert NOT_APPLICABLE.get(name, "(no skip expected)") in str(skip), f"{name} skipped: {skip}"
