"""Shared fixtures. Tests that need TensorFlow use ``keras``: in CI they fail, never skip, without it."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import Phase, settings

import npnet

# Property tests run the same examples on every run and machine ("ci", the default);
# HYPOTHESIS_PROFILE=explore searches afresh and longer when hunting for bugs locally.
settings.register_profile("ci", max_examples=500, deadline=None, derandomize=True, database=None,
                          print_blob=True, phases=[Phase.explicit, Phase.generate, Phase.shrink])
settings.register_profile("explore", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _require(module_name: str):
    """Import ``module_name``; without it, skip locally but fail when NPNET_REQUIRE_REFERENCE (CI) is set."""
    try:
        return __import__(module_name)
    except ImportError as error:
        message = f"{module_name} is not installed ({error}); ./run-tests installs it"
        if os.environ.get("NPNET_REQUIRE_REFERENCE"):
            pytest.fail(message + " -- required in CI")
        pytest.skip(message)  # local runs without the reference extra; CI sets NPNET_REQUIRE_REFERENCE


@pytest.fixture(scope="session")
def keras():
    """The installed Keras 3 (TensorFlow backend), quiet and on the CPU."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    _require("tensorflow")
    return _require("keras")


@pytest.fixture(scope="session")
def sklearn():
    return _require("sklearn")


@pytest.fixture(scope="session")
def pandas():
    """pandas (npnet[data]): CSV files; required in CI like TensorFlow."""
    return _require("pandas")


@pytest.fixture(scope="session")
def distributed():
    """dask.distributed, for the grid search on a LocalCluster; required in CI like TensorFlow."""
    _require("dask")
    return _require("distributed")


@pytest.fixture(scope="session")
def notebooks():
    """(nbformat, nbclient.NotebookClient), to execute the example notebook; required in CI like TensorFlow."""
    return _require("nbformat"), _require("nbclient").NotebookClient


@pytest.fixture
def float64():
    """Build models in float64 for the duration of a test (gradient checks)."""
    previous = npnet.backend.floatx()
    npnet.backend.set_floatx("float64")
    yield np.float64
    npnet.backend.set_floatx(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
