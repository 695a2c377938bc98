"""pytest plugin (entry point ``npnet``): the ``keras_parity`` fixture.

    def test_my_model_is_keras(keras_parity):
        keras_parity(model, x, y, steps=10)

The fixture is ``npnet.testing.assert_matches_keras``, which checks a copy
and leaves ``model`` as it was; without TensorFlow
the test is skipped with the install hint (in this project's CI the parity
tests import TensorFlow through their own fixture and fail instead).
"""
from __future__ import annotations

from typing import Callable

import pytest


@pytest.fixture
def keras_parity() -> Callable[..., None]:
    """``assert_matches_keras(model, x, y, steps=10, ...)`` from ``npnet.testing``."""
    pytest.importorskip("tensorflow", reason="keras_parity needs the reference extra: pip install 'npnet[reference]'")
    from npnet.testing import assert_matches_keras
    return assert_matches_keras
