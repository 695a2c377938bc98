"""The contract every registered initializer keeps: parametrized over the initializer registry.

Every registered name resolves to the class Keras's ``initializers.get`` gives
for it; each class, seeded, draws from Keras's distribution (same mean and
variance within five standard errors, same shape of distribution by a
two-sample Kolmogorov-Smirnov test) in float32 and float64, the same values at
every call, and survives its config's trip through JSON.

npnet.initializers has no public ``names()`` yet, so the registry dict is read here.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from npnet import initializers

NAMES = sorted(initializers._REGISTRY)
CLASSES = sorted({type(initializers.get(name)).__name__: name for name in NAMES})
SHAPE = (500, 400)   # fan_in 500, fan_out 400; 200 000 draws: a 1% error of scale is 5 standard errors
# Five standard errors, or the KS statistic at significance 1e-6: with the seeds fixed the test is
# deterministic, and a correct initializer would miss it on a fraction 1e-6 of seed choices.
SIGMAS, KS_ALPHA = 5.0, 1e-6


def seeded(class_name: str, seed: int) -> initializers.Initializer:
    cls = type(initializers.get(class_name))
    return cls(seed=seed) if issubclass(cls, initializers.RandomInitializer) else cls()


def keras_twin(keras, initializer: initializers.Initializer):
    return getattr(keras.initializers, type(initializer).__name__)(**initializer.get_config())


@pytest.mark.parametrize("name", NAMES)
def test_every_name_resolves_to_the_class_keras_resolves_it_to(keras, name):
    # The table keras.initializers.get reads: get itself fails for "constant"/"Constant" in Keras
    # 3.15 (it calls Constant.from_config({}), which reads config["value"]).
    from keras.src.initializers import ALL_OBJECTS_DICT

    assert ALL_OBJECTS_DICT[name].__name__ == type(initializers.get(name)).__name__


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    points = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, points, side="right") / a.size
                               - np.searchsorted(b, points, side="right") / b.size)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("class_name", CLASSES)
def test_draws_follow_keras_distribution(keras, class_name, dtype):
    initializer = seeded(class_name, seed=11)
    ours = initializer(SHAPE, dtype)
    theirs = np.asarray(keras_twin(keras, initializer)(SHAPE, dtype=np.dtype(dtype).name))
    assert ours.shape == SHAPE and ours.dtype == dtype
    if not isinstance(initializer, initializers.RandomInitializer):
        np.testing.assert_array_equal(ours, theirs)   # constants: the same numbers exactly
        return
    ours64, theirs64 = ours.astype(np.float64), theirs.astype(np.float64)
    n = ours.size
    variance = theirs64.var()
    fourth = np.mean((theirs64 - theirs64.mean()) ** 4)
    # Two independent samples of n: the means' difference has variance 2 var / n, the sample
    # variances' difference 2 (mu4 - var^2) / n (mu4 the fourth central moment).
    assert abs(ours64.mean() - theirs64.mean()) <= SIGMAS * np.sqrt(2 * variance / n), class_name
    assert abs(ours64.var() - variance) <= SIGMAS * np.sqrt(2 * (fourth - variance ** 2) / n), (
        f"{class_name}: variance {ours64.var():.6g}, Keras {variance:.6g}")
    critical = np.sqrt(-np.log(KS_ALPHA / 2) / 2) * np.sqrt(2 / n)   # two samples of n each
    assert ks_statistic(ours64, theirs64) <= critical, f"{class_name}: not Keras's distribution"


@pytest.mark.parametrize("class_name", CLASSES)
def test_a_seeded_initializer_draws_the_same_values_at_every_call(class_name):
    initializer = seeded(class_name, seed=4)
    np.testing.assert_array_equal(initializer((3, 5), np.float32), initializer((3, 5), np.float32))


@pytest.mark.parametrize("class_name", CLASSES)
def test_the_config_round_trips_through_json(class_name):
    initializer = seeded(class_name, seed=4)
    data = json.loads(json.dumps(initializers.serialize(initializer)))
    rebuilt = initializers.deserialize(data)
    assert type(rebuilt) is type(initializer) and rebuilt.get_config() == initializer.get_config()
    assert initializers.get(data).get_config() == initializer.get_config()
    np.testing.assert_array_equal(rebuilt((3, 5), np.float64), initializer((3, 5), np.float64))


@pytest.mark.parametrize("class_name", CLASSES)
def test_nonsense_shapes_and_dtypes_are_refused(class_name):
    initializer = seeded(class_name, seed=4)
    for shape in [(3, -1), (2.5, 3), "3"]:
        with pytest.raises((ValueError, TypeError), match="shape"):
            initializer(shape, np.float32)
    with pytest.raises((ValueError, TypeError), match="dtype"):
        initializer((3, 5), np.int32)
