"""Model and weight files: written atomically, read without trusting them.

A broken, foreign or hostile file gives a ValueError naming the file, never a
wrong model; a good file round-trips bit-exactly. (test_validation.py covers a
pickled object array, a pickle renamed .npz, a zip stub and a weights-only file.)
"""
from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import npnet
from npnet import optimizers, saving
from npnet.layers import Dense
from npnet.models import load_model
from npnet.optimizers import SGD, Adam

from small_models import data, small_model


X = np.random.default_rng(0).normal(size=(16, 4))
Y = (np.random.default_rng(1).random((16, 3)) > 0.5).astype(float)


def make_model(dtype="float32", compiled=True, seed=0):
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"),
                              Dense(3, activation="sigmoid")], dtype=dtype)
    if compiled:
        model.compile(optimizer=SGD(learning_rate=0.1, momentum=0.5), loss="binary_crossentropy",
                      metrics=["accuracy"])
        model.fit(X, Y, epochs=2, verbose=0)
    return model


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def assert_same_optimizer_state(a, b):
    state_a, state_b = a.optimizer.get_state(), b.optimizer.get_state()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert state_a[key].dtype == state_b[key].dtype and state_a[key].tobytes() == state_b[key].tobytes(), key


def temporary_files(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def rewrite(path, **members):
    """Replace or add members (JSON text, arrays) in an npnet archive, keeping the others."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in members.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez(path, **arrays)


# -- round trips ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "optimizer_free"])
def test_save_and_load_model_round_trips_bit_exactly(tmp_path, dtype, compiled):
    model = make_model(dtype, compiled)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.dtype == np.dtype(dtype)
    assert_same_weights(model, loaded)
    assert loaded.get_config() == model.get_config()
    assert (loaded.loss is None) == (not compiled)
    if compiled:
        assert loaded.optimizer.get_config() == model.optimizer.get_config()
        assert_same_optimizer_state(model, loaded)
        assert loaded.metrics_names == model.metrics_names
    assert loaded.predict(X, verbose=0).tobytes() == model.predict(X, verbose=0).tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(optimizers.registered()))
def test_a_loaded_model_resumes_training_bit_for_bit(tmp_path, name, dtype):
    """15 steps, save, load, one more epoch == the same epoch without the round trip (same batches).

    Before optimizer state was saved, iterations went from 15 to 0 and the epoch differed by 4.3e-3.
    """
    x, y = np.tile(X, (4, 1))[:60], np.tile(Y, (4, 1))[:60]   # 15 batches of 4
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dense(3, activation="sigmoid")],
                             dtype=dtype)
    model.compile(optimizer=optimizers.registered()[name](learning_rate=0.01, clipnorm=0.5), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.optimizer.iterations == model.optimizer.iterations == 15
    assert_same_optimizer_state(model, loaded)
    resumed = loaded.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    straight = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    assert resumed == straight
    assert_same_weights(model, loaded)
    assert_same_optimizer_state(model, loaded)
    assert loaded.optimizer.iterations == 30


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_and_load_weights_round_trip_bit_exactly_in_both_dtypes(tmp_path, dtype):
    model, other = make_model(dtype, seed=0), make_model(dtype, compiled=False, seed=1)
    model.save_weights(tmp_path / "w.npz")
    other.load_weights(tmp_path / "w.npz")
    assert_same_weights(model, other)


def test_saved_files_get_the_mode_open_would_give_them(tmp_path):
    make_model().save(tmp_path / "m.npz")
    (tmp_path / "plain").write_bytes(b"")
    assert os.stat(tmp_path / "m.npz").st_mode == os.stat(tmp_path / "plain").st_mode


# -- atomic writes ----------------------------------------------------------------------------------

def crash_after(monkeypatch, n_arrays, error=OSError("disk full")):
    """Make np.savez fail after writing ``n_arrays`` members: a crash mid-write."""
    real = np.lib.format.write_array
    written = []

    def write_array(*args, **kwargs):
        if len(written) == n_arrays:
            raise error
        written.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(np.lib.format, "write_array", write_array)


@pytest.mark.parametrize("method", ["save", "save_weights"])
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["oserror", "interrupt"])
def test_a_crash_mid_write_leaves_the_previous_file_intact_and_no_temporary_file(tmp_path, monkeypatch,
                                                                                   method, error):
    path = tmp_path / "m.npz"
    old = make_model(seed=0)
    getattr(old, method)(path)
    before = path.read_bytes()
    crash_after(monkeypatch, 2, error)
    with pytest.raises(type(error)):
        getattr(make_model(seed=1), method)(path)
    assert path.read_bytes() == before
    assert temporary_files(tmp_path) == []


def test_a_crash_before_anything_exists_leaves_no_file_at_all(tmp_path, monkeypatch):
    crash_after(monkeypatch, 1)
    with pytest.raises(OSError, match="disk full"):
        make_model().save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_a_failing_rename_leaves_no_temporary_file(tmp_path):
    (tmp_path / "m.npz").mkdir()   # os.replace cannot put a file over a directory
    with pytest.raises(IsADirectoryError):
        make_model().save(tmp_path / "m.npz")
    assert temporary_files(tmp_path) == []


# -- files that are not what they claim ---------------------------------------------------------------

@pytest.mark.parametrize("loader", ["load_model", "load_weights"])
def test_a_future_format_version_is_refused_by_name(tmp_path, loader):
    path = tmp_path / "future.npz"
    make_model().save(path)
    rewrite(path, format_version=np.array(saving.FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=r"future\.npz' has format version 3; this npnet reads versions 1, 2"):
        load_model(path) if loader == "load_model" else make_model(compiled=False).load_weights(path)


@pytest.mark.parametrize("version", [None, np.array([1]), np.array(1.0), np.array("1")],
                         ids=["missing", "vector", "float", "text"])
def test_a_missing_or_malformed_format_version_is_refused(tmp_path, version):
    path = tmp_path / "noversion.npz"
    make_model().save(path)
    rewrite(path, format_version=version)
    with pytest.raises(ValueError, match=r"noversion\.npz' is not an npnet file \(no format_version\)"):
        load_model(path)


def test_an_npz_with_an_object_array_is_refused_without_unpickling(tmp_path, monkeypatch):
    path = tmp_path / "objects.npz"
    make_model().save(path)
    rewrite(path, weight_001=np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=object))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    for load in (load_model, make_model(compiled=False).load_weights):
        with pytest.raises(ValueError, match=r"objects\.npz' is not a readable npnet file"):
            load(path)


def test_a_raw_pickle_renamed_npz_is_refused_without_unpickling(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(make_model()))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ValueError, match=r"model\.npz' is not a readable npnet file"):
        load_model(path)


@pytest.mark.parametrize("content, what", [
    (b"", "empty"),
    (b"hello world\n", "a text file starting 'hello world'"),
    (b"f0,f1,spam\n0.5,1.5,1\n", "a text file starting 'f0,f1,spam' (a CSV data file?)"),
    (np.random.default_rng(0).integers(128, 256, 300, dtype=np.uint8).tobytes(),
     "binary data without a zip signature"),
    (b"\x93NUMPY", "a single NumPy array (.npy)"),
    (pickle.dumps([1.0, 2.0]), "a Python pickle (npnet never loads pickles)"),
    (b"\x89HDF\r\n\x1a\n" + bytes(100), "an HDF5 file (a Keras .h5 model?)"),
], ids=["empty", "text", "csv", "random-binary", "npy-magic-only", "pickle", "hdf5"])
def test_a_file_that_is_not_an_archive_is_named_for_what_it_is(tmp_path, content, what):
    # np.load takes any file that is neither a zip nor an .npy for a pickle: it once told users
    # that a CSV or a text file "contains pickled (object) data".
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    for load in (load_model, make_model(compiled=False).load_weights):
        with pytest.raises(ValueError) as error:
            load(path)
        assert str(error.value) == f"{str(path)!r} is not a readable npnet file: it is {what}, not an .npz archive"


def test_a_bare_npy_array_renamed_npz_is_refused_by_name(tmp_path):
    np.save(tmp_path / "array.npy", np.zeros(3))
    os.rename(tmp_path / "array.npy", tmp_path / "array.npz")
    with pytest.raises(ValueError, match=r"array\.npz' is not a readable npnet file: it is a single NumPy array "
                                         r"\(\.npy\), not an \.npz archive"):
        load_model(tmp_path / "array.npz")


def test_an_npz_of_other_arrays_is_named_as_one(tmp_path):
    np.savez(tmp_path / "data.npz", x=np.zeros((3, 2)), y=np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"data\.npz' is not an npnet file: an \.npz archive with unexpected "
                                         r"member 'x' \(npnet files hold config and weight_000"):
        load_model(tmp_path / "data.npz")


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.9, 0.99])
def test_a_truncated_file_is_refused_by_name(tmp_path, fraction):
    path = tmp_path / "cut.npz"
    make_model().save(path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    for load in (load_model, make_model(compiled=False).load_weights):
        with pytest.raises(ValueError, match=r"cut\.npz' is not a readable npnet file"):
            load(path)


def test_every_single_byte_corruption_is_refused_or_harmless(tmp_path):
    """Flip each byte of a model file: loading must fail with the file's name or give the very same model.

    Harmless flips exist (zip timestamps, version fields nobody reads); a flip
    that changes a weight, the architecture or the compile settings must be caught
    (the zip's CRC-32 covers every member's bytes).
    """
    original = make_model()
    path = tmp_path / "flip.npz"
    original.save(path)
    data = path.read_bytes()
    outcomes = {"refused": 0, "identical": 0}
    for position in range(len(data)):
        corrupted = bytearray(data)
        corrupted[position] ^= 0xFF
        path.write_bytes(bytes(corrupted))
        try:
            loaded = load_model(path)
        except ValueError as error:
            assert "flip.npz" in str(error), (position, error)
            outcomes["refused"] += 1
            continue
        assert_same_weights(original, loaded)
        assert loaded.get_config() == original.get_config(), position
        assert loaded.optimizer.get_config() == original.optimizer.get_config(), position
        assert_same_optimizer_state(original, loaded)
        assert loaded.metrics_names == original.metrics_names, position
        outcomes["identical"] += 1
    assert outcomes["refused"] > len(data) // 2   # most bytes matter


def test_a_zip_with_other_member_names_is_refused_by_name(tmp_path):
    path = tmp_path / "members.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not an npnet file")
    with pytest.raises(ValueError, match=r"members\.npz' is not an npnet file: a zip archive, but not an \.npz "
                                         r"of NumPy arrays \(member 'readme\.txt'\)"):
        load_model(path)


@pytest.mark.parametrize("members, message", [
    ({"weight_001": None}, r"weight arrays are not numbered 0\.\.2"),
    ({"weight_004": np.zeros(3, np.float32)}, r"weights must hold 4 arrays, got 5"),
    ({"weight_7": np.zeros(3, np.float32)}, r"unexpected member 'weight_7'"),
    ({"extra": np.zeros(3)}, r"unexpected member 'extra'"),
    ({"optimizer_momentum_0": np.zeros(3, np.float32)}, r"state\['momentum_0'\] must be a finite float32 array of shape \(43,\)"),
    ({"optimizer_momentum_0": np.zeros(43)}, r"state\['momentum_0'\] must be a finite float32 array"),
    ({"optimizer_momentum_0": np.full(43, np.nan, np.float32)}, r"with NaN/inf"),
    ({"optimizer_iterations": np.array(-1)}, r"state\['iterations'\] must be an integer >= 0"),
    ({"optimizer_iterations": np.array(2.0)}, r"state\['iterations'\] must be an integer >= 0"),
    ({"optimizer_velocity_0": np.zeros(43, np.float32)}, r"state must hold exactly \['iterations', 'momentum_0'\]"),
    ({"optimizer_momentum_0": None}, r"state must hold exactly"),
    ({"config": np.array(b"{}")}, r"config is not JSON text"),
    ({"config": np.array(["{}", "{}"])}, r"config is not JSON text"),
])
def test_an_archive_with_wrong_members_is_refused_by_name(tmp_path, members, message):
    path = tmp_path / "members.npz"
    make_model().save(path)
    rewrite(path, **members)
    with pytest.raises(ValueError, match=r"members\.npz'.*" + message):
        load_model(path)


# -- a valid archive whose contents disagree -------------------------------------------------------------

def layer_with(layer_config, key, value):
    """A saved layer config ({"class_name": ..., "config": {...}}) with ``config[key] = value``."""
    return {**layer_config, "config": {**layer_config["config"], key: value}}


def model_file_with(tmp_path, edit):
    """A saved model whose JSON config has been changed by ``edit(config) -> config``."""
    path = tmp_path / "edited.npz"
    make_model().save(path)
    with np.load(path, allow_pickle=False) as archive:
        config = json.loads(str(archive["config"]))
    rewrite(path, config=np.array(json.dumps(edit(config))))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda c: {**c, "model": {**c["model"], "layers": c["model"]["layers"][:1]}}, r"weights must hold 2 arrays"),
    (lambda c: {**c, "model": {**c["model"], "input_dim": 5}},
     r"the config declares 5 input features, the weights have 4"),
    (lambda c: {**c, "model": {**c["model"], "layers": [c["model"]["layers"][0],
                                                          layer_with(c["model"]["layers"][1], "units", 2)]}},
     r"weights\[2\] must have shape \(5, 2\)"),
    (lambda c: {**c, "model": {**c["model"], "layers": [c["model"]["layers"][0],
                                                          layer_with(c["model"]["layers"][1], "use_bias", False)]}},
     r"weights must hold 3 arrays, got 4"),
    (lambda c: {**c, "model": {**c["model"], "dtype": "object"}}, r"dtype must be one of"),
    (lambda c: {**c, "model": {**c["model"], "layers": [layer_with(c["model"]["layers"][0], "units", 10 ** 15),
                                                          c["model"]["layers"][1]]}},
     r"weights\[0\] must have shape"),
    (lambda c: {**c, "model": {**c["model"], "input_dim": 10 ** 15}}, r"the config declares 10+ input"),
])
def test_architecture_that_disagrees_with_the_weights_is_refused_by_name(tmp_path, edit, message):
    with pytest.raises(ValueError, match=r"edited\.npz' does not describe a valid npnet model: .*" + message):
        load_model(model_file_with(tmp_path, edit))


@pytest.mark.parametrize("edit, message", [
    (lambda c: {**c, "extra": 1}, r"unknown key 'extra' in the file's config"),
    (lambda c: {**c, "model": {**c["model"], "extra": 1}}, r"unknown key 'extra' in the model config"),
    (lambda c: {**c, "model": {**c["model"], "layers": [layer_with(c["model"]["layers"][0], "kernel_initializer", "zeros"),
                                                          c["model"]["layers"][1]]}},
     r"unknown key 'kernel_initializer' in layer config 0"),
    (lambda c: {**c, "compile": {**c["compile"], "run": "os.system('echo pwned')"}},
     r"unknown key 'run' in the compile config"),
    (lambda c: {**c, "compile": {**c["compile"], "optimizer": {**c["compile"]["optimizer"], "x": 1}}},
     r"unexpected keyword argument 'x'"),
    (lambda c: {**c, "compile": {**c["compile"], "loss": {"name": "__import__('os').system('echo pwned')"}}},
     r"unknown loss"),
    (lambda c: {**c, "model": {**c["model"], "layers": [layer_with(c["model"]["layers"][0], "activation", "eval"),
                                                          c["model"]["layers"][1]]}},
     r"unknown activation 'eval'"),
    (lambda c: [c], r"config must be a JSON object"),
    (lambda c: {**c, "model": None}, r"config must be a dict with a 'layers' list"),
])
def test_config_with_unknown_keys_or_code_is_refused_by_name(tmp_path, capfd, edit, message):
    with pytest.raises(ValueError, match=r"edited\.npz'.*" + message):
        load_model(model_file_with(tmp_path, edit))
    assert "pwned" not in capfd.readouterr().out


def test_code_in_a_name_stays_an_inert_string(tmp_path, capfd):
    name = "__import__('os').system('echo pwned')"
    path = model_file_with(tmp_path, lambda c: {**c, "model": {**c["model"], "name": name}})
    assert load_model(path).name == name
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize("text", ["{not json", "", "{\"model\": NaN", "\x00\x01"])
def test_config_that_is_not_json_is_refused_by_name(tmp_path, text):
    path = tmp_path / "badjson.npz"
    make_model().save(path)
    rewrite(path, config=np.array(text))
    with pytest.raises(ValueError, match=r"badjson\.npz': config is not valid JSON"):
        load_model(path)


def test_save_and_save_weights_both_refuse_paths_that_are_not_npz(tmp_path):
    model = make_model()
    for method in (model.save, model.save_weights):
        with pytest.raises(ValueError, match=r"path must end with '\.npz'"):
            method(tmp_path / "model.keras")
    assert not list(tmp_path.iterdir())


# == Weight and model files of a small model =========================================================

def test_save_and_load_weights_round_trip_bit_exactly(tmp_path):
    model, other = small_model(seed=0), small_model(seed=1)
    model.fit(*data(n=20), epochs=2, verbose=0)
    model.save_weights(tmp_path / "w.npz")
    other.load_weights(tmp_path / "w.npz")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_saved_model_loads_with_its_layers_compile_settings_and_weights(tmp_path):
    model = small_model(optimizer=Adam(learning_rate=0.02))
    x, y = data(n=20)
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "model.npz")
    loaded = npnet.models.load_model(tmp_path / "model.npz")
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.metrics_names == model.metrics_names
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
