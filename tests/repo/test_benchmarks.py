"""The benchmark harness, run small: npnet and scikit-learn only (no TensorFlow, no PyTorch), seconds not minutes."""
from __future__ import annotations

import sys

import pytest

from benchmarks import handoff, harness, isolated, latency, peers, products_bound, scaling, tutorial

TINY = peers.Workload(hidden=tutorial.WORK.hidden, batch_size=250, epochs=2, validation_split=0.2)


@pytest.fixture(scope="module")
def arrays(sklearn):
    return tutorial.tutorial_arrays()


def test_tutorial_table_has_a_row_per_peer_with_every_column_and_accuracies_in_unit_interval(arrays):
    heavy_before = {"tensorflow", "torch"} & set(sys.modules)
    rows, _ = tutorial.run(["npnet", "sklearn", "floor"], arrays, TINY, repeats=1, fresh_process=True)
    assert {"tensorflow", "torch"} & set(sys.modules) == heavy_before   # the harness never loads them itself
    lines = tutorial.table(rows).splitlines()
    assert lines[0] == "| " + " | ".join(tutorial.HEADERS) + " |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| npnet", "| sklearn *", "| floor"]
    assert all(line.count("|") == len(tutorial.HEADERS) + 1 and " - " not in line for line in lines[2:])
    for row in rows:
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["first_fit_accuracy"] <= 1.0
        assert row["median"] > 0 and row["import_seconds"] > 0 and row["peak_rss_mb"] > 10
    assert rows[0]["ratio"] == 1.0
    # Same seed, same data: the fresh process trained exactly the model the timed runs trained.
    assert rows[0]["first_fit_accuracy"] == rows[0]["accuracy"]


def test_measure_reports_repeats_after_discarding_warmup():
    calls = []
    timing = harness.measure(lambda: (lambda: calls.append(1) or len(calls)), repeats=3, warmup=2, number=4)
    assert len(calls) == 20 and timing.results == [12, 16, 20] and len(timing.seconds) == 3
    assert timing.best <= timing.median


def test_write_section_replaces_its_own_section_and_keeps_the_others(tmp_path):
    path = tmp_path / "RESULTS.md"
    harness.write_section("a", "first", path)
    harness.write_section("b", "other", path)
    harness.write_section("a", "second", path)
    text = path.read_text()
    assert "second" in text and "first" not in text and "other" in text
    assert text.index("second") < text.index("other")


def test_unknown_peer_is_refused_by_name():
    with pytest.raises(ValueError, match="nope"):
        peers.get(["npnet", "nope"])


def test_scaling_and_latency_run_for_npnet_and_sklearn(sklearn):
    sweep = scaling.Sweep("rows", "rows", [200, 400], lambda rows: (rows, 6, (8,), 3, 100))
    rows = scaling.run_sweep(sweep, peers.get(["npnet", "sklearn"])[0], repeats=1, seed=0)
    assert [(row["value"], row["peer"]) for row in rows] == [(200, "npnet"), (200, "sklearn"),
                                                              (400, "npnet"), (400, "sklearn")]
    assert all(row["median"] > 0 for row in rows)
    steps = latency.run(peers.get(["npnet", "sklearn"])[0], repeats=1, number=5, seed=0)
    assert [row["peer"] for row in steps] == ["npnet", "sklearn"] and all(row["median_us"] > 0 for row in steps)


def test_a_peer_whose_framework_is_missing_is_left_out_with_a_note(monkeypatch):
    class Absent(peers.NpnetPeer):
        name, module = "absent", "no_such_framework_npnet_test"
    monkeypatch.setitem(peers.PEERS, "absent", Absent())
    chosen, notes = peers.get(["npnet", "absent"])
    assert [peer.name for peer in chosen] == ["npnet"] and "absent: not installed, left out" in notes
    with pytest.raises(ImportError, match="no_such_framework_npnet_test"):
        peers.get(["absent"], skip_missing=False)


def test_fresh_process_imports_what_each_peer_names():
    assert isolated.IMPORTS == {name: peer.module for name, peer in peers.PEERS.items()}


def test_the_numpy_floor_trains_what_npnet_trains(arrays):
    from benchmarks import floor
    work = peers.Workload(hidden=tutorial.WORK.hidden, batch_size=250, epochs=3, validation_split=0.2)
    differences = floor.check(arrays, work, seed=0)
    # The same training arithmetic as npnet's fit (the bias trick included): the same weights
    # to the bit. The loss values differ by log(1 + e) against log1p(e): at most 2^-24 on
    # log(1 + e) and one rounding of each entry (entries below 16 here: ulp 2^-20) in a mean.
    assert differences["weights"] == 0.0
    assert differences["binary_accuracy"] == differences["val_binary_accuracy"] == 0.0
    assert max(differences["loss"], differences["val_loss"]) <= 2.0**-24 + 2.0**-20


def test_optimizer_step_times_every_registered_optimizer_next_to_adam():
    from benchmarks import optimizer_step
    from npnet import optimizers
    rows = optimizer_step.run([optimizer_step.TUTORIAL_P, 5000], repeats=1, number=3)
    labels = {row["label"] for row in rows}
    assert {cls.__name__ for cls in optimizers.registered().values()} <= labels
    assert all(row["min_us"] > 0 for row in rows)
    assert [row["ratio"] for row in rows if row["label"] == "Adam"] == [1.0, 1.0]
    assert sum(optimizer_step.layout(optimizer_step.TUTORIAL_P)) == optimizer_step.TUTORIAL_P == 915
    assert "| Adam | " in optimizer_step.table(rows)


def test_csv_read_harness_times_each_reader_in_a_fresh_process_on_a_tiny_file(tmp_path, pandas):
    from benchmarks import csv_read
    path = csv_read.write_csv(tmp_path / "tiny.csv", megabytes=0.05, seed=0)
    assert 0.05e6 <= path.stat().st_size < 0.06e6   # written in chunks until the size is reached
    rows, notes = csv_read.run(["npnet", "pandas"], path, repeats=2)
    assert [row["reader"] for row in rows] == ["npnet", "pandas"] and notes == []
    for row in rows:
        assert row["wall"] > 0 and row["cpu"] > 0 and row["peak_rss_mb"] > 10
        assert row["shape"] == rows[1]["shape"] and row["shape"][1] == csv_read.N_FEATURES + csv_read.N_LABELS
    assert rows[1]["wall_ratio"] == rows[1]["cpu_ratio"] == rows[1]["peak_rss_mb_ratio"] == 1.0
    lines = csv_read.table(rows).splitlines()
    assert lines[0] == "| " + " | ".join(csv_read.HEADERS) + " |" and len(lines) == 4
    assert "in time and peak memory" in csv_read.verdict(rows)
    with pytest.raises(ValueError, match="unknown reader 'polars'"):
        csv_read.run(["polars"], path, repeats=1)


def test_digits_softmax_benchmark_trains_every_peer_on_the_softmax_head(sklearn):
    from benchmarks import digits
    arrays = digits.digits_arrays()
    assert arrays["y"].shape == (1198, 10) and (arrays["y"].sum(axis=1) == 1).all()
    work = peers.Workload(digits.WORK.hidden, 32, 3, 0.2, head="softmax")
    rows, _ = tutorial.run(["npnet", "sklearn"], arrays, work, repeats=1, fresh_process=True)
    lines = tutorial.table(rows, targets={}, headers=digits.HEADERS).splitlines()
    assert lines[0] == "| " + " | ".join(digits.HEADERS) + " |" and "test accuracy" in lines[0]
    for row in rows:
        assert 0.3 < row["accuracy"] <= 1.0   # ten classes: chance is 0.1; measured 0.644 and 0.671 after 3 epochs
    assert rows[0]["first_fit_accuracy"] == rows[0]["accuracy"]   # the fresh process trained the same model
    model = peers.PEERS["npnet"].build(64, (32,), 10, 0, head="softmax")
    assert model.layers[-1].activation.name == "softmax" and model.loss.name == "categorical_crossentropy"


def test_products_bound_times_every_product_of_the_step_apart_from_the_other_calls():
    config = scaling.Config(64, 5, (16, 8, 4), 3, 32)
    _, program = products_bound.compiled_step(config, seed=0)
    # 4 layers: a product each forward, a dW product each backward, a dx product each but the first
    assert sum(map(products_bound.is_product, program)) == 3 * 4 - 1
    products, others = products_bound.step_times(config, seed=0, steps=3)
    assert products > 0 and others > 0


@pytest.mark.parametrize("name", sorted(handoff.MECHANISMS))
def test_each_handoff_mechanism_makes_round_trips_and_stops_its_worker(name):
    import threading
    before = threading.active_count()
    seconds = handoff.MECHANISMS[name](5)
    assert 0 < seconds < 1 and threading.active_count() == before   # the worker was joined
