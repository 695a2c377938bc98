"""Initializers: Keras's names, arguments, defaults and distributions.

NumPy cannot reproduce TensorFlow's random streams, so the values differ from
Keras's; what must agree is the distribution. Every statistical bound below
comes from the sample size: a mean within 5 standard errors, a variance within
5 standard errors of the variance (from the sample's own fourth moment), a
Kolmogorov-Smirnov test against the exact CDF at level 1e-4. The draws are
seeded, so each test is deterministic; a wrong scale (the 0.8796 truncation
factor left out changes the standard deviation by 14%) misses by dozens of
standard errors at these sample sizes.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import npnet
from npnet import initializers

SHAPE = (250, 400)          # 100,000 draws; fan_in 250, fan_out 400
N = math.prod(SHAPE)
KS_LEVEL = 1e-4


def variance_bound(sample: np.ndarray) -> float:
    """5 standard errors of the sample variance: sqrt((m4 - s^4) / n), m4 the fourth central moment."""
    centred = sample - sample.mean()
    return 5 * math.sqrt((np.mean(centred ** 4) - np.mean(centred ** 2) ** 2) / sample.size)


def assert_mean_and_variance(sample: np.ndarray, mean: float, variance: float) -> None:
    sample = sample.astype(np.float64).ravel()
    assert abs(sample.mean() - mean) <= 5 * math.sqrt(variance / sample.size)
    assert abs(sample.var() - variance) <= variance_bound(sample)


def truncated_variance(stddev: float) -> float:
    return (stddev * initializers.TRUNCATED_NORMAL_STDDEV) ** 2


# (initializer, scipy distribution of its draws for SHAPE, mean, variance)
def cases():
    from scipy import stats
    fan_in, fan_out = SHAPE
    glorot = math.sqrt(6 / (fan_in + fan_out))
    he, lecun = math.sqrt(6 / fan_in), math.sqrt(3 / fan_in)
    truncated = lambda sd, mean=0.0: stats.truncnorm(-2, 2, loc=mean, scale=sd)  # noqa: E731
    return [
        (initializers.GlorotUniform(), stats.uniform(-glorot, 2 * glorot), 0.0, glorot ** 2 / 3),
        (initializers.HeUniform(), stats.uniform(-he, 2 * he), 0.0, he ** 2 / 3),
        (initializers.LecunUniform(), stats.uniform(-lecun, 2 * lecun), 0.0, lecun ** 2 / 3),
        (initializers.GlorotNormal(), truncated(math.sqrt(2 / (fan_in + fan_out)) / 0.87962566103423978),
         0.0, 2 / (fan_in + fan_out)),
        (initializers.HeNormal(), truncated(math.sqrt(2 / fan_in) / 0.87962566103423978), 0.0, 2 / fan_in),
        (initializers.LecunNormal(), truncated(math.sqrt(1 / fan_in) / 0.87962566103423978), 0.0, 1 / fan_in),
        (initializers.RandomNormal(mean=0.5, stddev=2.0), stats.norm(0.5, 2.0), 0.5, 4.0),
        (initializers.RandomNormal(), stats.norm(0.0, 0.05), 0.0, 0.05 ** 2),
        (initializers.RandomUniform(minval=-1.0, maxval=3.0), stats.uniform(-1.0, 4.0), 1.0, 16 / 12),
        (initializers.RandomUniform(), stats.uniform(-0.05, 0.1), 0.0, 0.01 / 12),
        (initializers.TruncatedNormal(mean=1.0, stddev=0.5), truncated(0.5, 1.0), 1.0, truncated_variance(0.5)),
        (initializers.TruncatedNormal(), truncated(0.05), 0.0, truncated_variance(0.05)),
        (initializers.VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal"),
         stats.norm(0.0, math.sqrt(3 / fan_out)), 0.0, 3 / fan_out),
    ]


@pytest.fixture(scope="module")
def distributions(sklearn):   # scipy comes with scikit-learn
    return cases()


@pytest.mark.parametrize("index", range(13))
def test_random_initializers_draw_from_kerass_distribution(index, distributions):
    from scipy import stats
    initializer, distribution, mean, variance = distributions[index]
    npnet.utils.set_random_seed(index)
    values = initializer(SHAPE, "float64")
    assert values.shape == SHAPE and values.dtype == np.float64
    assert_mean_and_variance(values, mean, variance)
    assert stats.kstest(values.ravel(), distribution.cdf).pvalue > KS_LEVEL


def test_the_ks_test_catches_a_truncated_normal_without_the_0_88_correction(distributions):
    from scipy import stats
    _, distribution, _, _ = distributions[4]             # HeNormal's
    plain = initializers.TruncatedNormal(stddev=math.sqrt(2 / SHAPE[0]), seed=0)(SHAPE, "float64")
    assert stats.kstest(plain.ravel(), distribution.cdf).pvalue < KS_LEVEL      # measured 7e-99
    assert abs(plain.var() - 2 / SHAPE[0]) > 20 * variance_bound(plain) / 5     # off by >20 standard errors


@pytest.mark.parametrize("mean, stddev", [(0.0, 0.05), (1.0, 0.5), (-3.0, 2.0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_truncated_normal_stays_within_two_stddev_exactly(mean, stddev, dtype):
    values = initializers.TruncatedNormal(mean, stddev, seed=1)((200_000,), dtype)
    # mean + stddev * z with |z| <= 2 rounds monotonically, so the bounds hold exactly
    # once computed the same way (float64, then the cast).
    low, high = np.array([mean - 2 * stddev, mean + 2 * stddev]).astype(dtype)
    assert values.min() >= low and values.max() <= high
    # ... and the draws reach the bounds: P(|z| in (1.99, 2]) ~ 1e-3, so 200,000 draws land there
    assert values.min() < mean - 1.99 * stddev and values.max() > mean + 1.99 * stddev


@pytest.mark.parametrize("name, keras_name", [
    ("glorot_normal", "GlorotNormal"), ("he_uniform", "HeUniform"), ("he_normal", "HeNormal"),
    ("lecun_uniform", "LecunUniform"), ("lecun_normal", "LecunNormal"), ("glorot_uniform", "GlorotUniform")])
@pytest.mark.parametrize("shape", [(250, 400), (40_000,), (20, 5, 1000)])
def test_variance_scaling_matches_kerass_variance_on_a_large_draw(name, keras_name, shape, keras):
    ours = initializers.get(name)(shape, "float64").ravel()
    theirs = np.asarray(keras.initializers.get(name)(shape, dtype="float64")).ravel()
    assert type(initializers.get(name)).__name__ == keras_name == type(keras.initializers.get(name)).__name__
    # Two independent samples of one distribution: means and variances within 5 combined standard errors.
    sd = math.sqrt(theirs.var())
    assert abs(ours.mean() - theirs.mean()) <= 5 * sd * math.sqrt(2 / ours.size)
    assert abs(ours.var() - theirs.var()) <= math.hypot(variance_bound(ours), variance_bound(theirs))


@pytest.mark.parametrize("shape, fans", [((), (1, 1)), ((7,), (7, 7)), ((3, 4), (3, 4)), ((2, 3, 4, 5), (24, 30))])
def test_fans_are_kerass(shape, fans, keras):
    from keras.src.initializers.random_initializers import compute_fans
    assert initializers.compute_fans(shape) == fans == compute_fans(shape)


@pytest.mark.parametrize("name", sorted(initializers._REGISTRY))
@pytest.mark.parametrize("dtype", ["float32", "float64", None])
@pytest.mark.parametrize("shape", [(3, 4), (5,), ()])
def test_every_initializer_gives_the_asked_shape_and_dtype(name, dtype, shape):
    values = initializers.get(name)(shape, dtype)
    assert values.shape == shape and values.dtype == np.dtype(dtype or npnet.backend.floatx())
    assert np.isfinite(values).all()


def test_constant_and_ones_and_zeros():
    assert (initializers.Constant(2.5)((2, 3), "float32") == np.float32(2.5)).all()
    assert (initializers.get("ones")((4,)) == 1).all() and (initializers.get("zeros")((4,)) == 0).all()
    assert initializers.Constant().value == 0.0


@pytest.mark.parametrize("name", ["he_normal", "glorot_normal", "random_normal", "random_uniform",
                                  "truncated_normal", "lecun_uniform"])
def test_seeds_repeat_and_the_global_stream_is_set_random_seed(name):
    cls = type(initializers.get(name))
    seeded = cls(seed=3)
    assert np.array_equal(seeded((5, 6)), seeded((5, 6)))          # an int seed: the same draws every call
    assert np.array_equal(seeded((5, 6)), cls(seed=3)((5, 6)))
    assert not np.array_equal(seeded((5, 6)), cls(seed=4)((5, 6)))
    unseeded = cls()
    npnet.utils.set_random_seed(11)
    first = unseeded((5, 6)), unseeded((5, 6))
    npnet.utils.set_random_seed(11)
    assert np.array_equal(first[0], unseeded((5, 6))) and np.array_equal(first[1], unseeded((5, 6)))
    assert not np.array_equal(*first)                               # the global stream moves on


@pytest.mark.parametrize("initializer", [
    initializers.GlorotNormal(seed=1), initializers.HeUniform(), initializers.Constant(-1.5),
    initializers.RandomNormal(0.2, 3.0, seed=7), initializers.RandomUniform(-2.0, 0.5),
    initializers.TruncatedNormal(stddev=0.1, seed=2), initializers.Ones(), initializers.Zeros(),
    initializers.VarianceScaling(2.0, "fan_avg", "uniform", seed=5)])
def test_config_round_trips_and_matches_kerass(initializer, keras):
    import json
    data = json.loads(json.dumps(initializers.serialize(initializer)))
    again = initializers.get(data)
    assert type(again) is type(initializer) and again.get_config() == initializer.get_config()
    if getattr(initializer, "seed", 0) is not None:     # deterministic: the same values too
        assert np.array_equal(again((4, 3), "float64"), initializer((4, 3), "float64"))
    # Keras builds the same initializer from npnet's config, and says the same about every key npnet has.
    theirs = keras.initializers.get(data).get_config()
    assert {key: theirs[key] for key in initializer.get_config()} == initializer.get_config()


def test_defaults_are_kerass(keras):
    # (Keras's get("constant") fails: Constant.from_config needs a "value"; the class itself is fine.)
    for name in ("RandomNormal", "RandomUniform", "TruncatedNormal", "Constant", "VarianceScaling"):
        ours, theirs = getattr(initializers, name)().get_config(), getattr(keras.initializers, name)().get_config()
        assert {key: theirs[key] for key in ours} == ours, name


def test_every_keras_name_of_these_initializers_resolves_to_the_same_class(keras):
    from keras.src.initializers import ALL_OBJECTS_DICT
    shared = [(name, cls) for name, cls in ALL_OBJECTS_DICT.items() if cls.__name__ in initializers._REGISTRY]
    assert len(shared) >= 28     # 13 classes, their snake_case names, and the aliases normal/uniform/one/zero
    for name, cls in shared:
        assert type(initializers.get(name)).__name__ == cls.__name__, name


@pytest.mark.parametrize("make, error, message", [
    (lambda: initializers.get("he_normall"), ValueError, r"unknown initializer 'he_normall'"),
    (lambda: initializers.get(5), TypeError, r"initializer must be a name"),
    (lambda: initializers.get({"class_name": "HeNormal"}), ValueError, r"a serialized initializer is"),
    (lambda: initializers.get({"class_name": "Nope", "config": {}}), ValueError, r"unknown initializer 'Nope'"),
    (lambda: initializers.get({"class_name": "HeNormal", "config": {"scale": 2}}), TypeError, r"scale"),
    (lambda: initializers.RandomNormal(stddev=-1.0), ValueError, r"stddev must be in"),
    (lambda: initializers.RandomNormal(mean=float("nan")), ValueError, r"mean must be in"),
    (lambda: initializers.TruncatedNormal(stddev="1"), TypeError, r"stddev must be a real number"),
    (lambda: initializers.RandomUniform(1.0, 0.0), ValueError, r"maxval must be >= minval"),
    (lambda: initializers.Constant(float("inf")), ValueError, r"value must be in"),
    (lambda: initializers.VarianceScaling(scale=0.0), ValueError, r"scale must be in"),
    (lambda: initializers.VarianceScaling(mode="fan"), ValueError, r"mode must be one of"),
    (lambda: initializers.VarianceScaling(distribution="cauchy"), ValueError, r"distribution must be one of"),
    (lambda: initializers.HeNormal(seed=-1), ValueError, r"seed must be >= 0"),
    (lambda: initializers.HeNormal(seed=1.5), TypeError, r"seed must be an int"),
    (lambda: initializers.HeNormal()((3, -1)), ValueError, r"shape\[1\] must be >= 0"),
    (lambda: initializers.HeNormal()(3), TypeError, r"shape must be a tuple"),
    (lambda: initializers.Ones()((3,), "int32"), ValueError, r"dtype must be one of"),
    (lambda: initializers.Ones()((3,), "floaty"), TypeError, r"dtype must be float32 or float64"),
])
def test_nonsense_arguments_are_refused_naming_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()
