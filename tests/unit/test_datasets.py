"""npnet.datasets: CSV and NPZ tables, column selection, refusals, and the seeded test split."""
from __future__ import annotations

import re

import numpy as np
import pytest

from npnet.datasets import DataError, load_table, split


@pytest.fixture
def table_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(" a , b ,lab1,c,lab2\n1,2,0,3,1\n\n4,5,1,6,0.5\n")   # padded names, a blank line
    return path


def test_csv_label_columns_are_taken_out_and_the_rest_are_features_in_file_order(table_csv):
    table = load_table(table_csv, labels=["lab2", "lab1"])
    assert table.feature_names == ["a", "b", "c"] and table.label_names == ["lab2", "lab1"]
    np.testing.assert_array_equal(table.x, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(table.y, [[1, 0], [0.5, 1]])
    assert table.x.dtype == np.float64


def test_csv_label_prefix_and_feature_selection_by_name(table_csv):
    table = load_table(table_csv, label_prefix="lab", features=["c", "a"])
    assert table.feature_names == ["c", "a"] and table.label_names == ["lab1", "lab2"]
    np.testing.assert_array_equal(table.x, [[3, 1], [6, 4]])


def test_csv_without_labels_is_all_features(table_csv):
    table = load_table(table_csv)
    assert table.y is None and table.label_names == [] and table.x.shape == (2, 5)


def test_npz_selects_labels_by_stored_names(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(6.0).reshape(3, 2), y=np.array([[0, 1, 1], [1, 0, 1], [0, 0, 0]]),
             label_names=np.array(["p", "q", "r"]), feature_names=np.array(["u", "v"]))
    table = load_table(path, labels=["r", "p"])
    assert table.feature_names == ["u", "v"] and table.label_names == ["r", "p"]
    np.testing.assert_array_equal(table.y, [[1, 0], [1, 1], [0, 0]])
    swapped = load_table(path, features=["v", "u"])   # an NPZ that names its features is read by name
    assert swapped.feature_names == ["v", "u"]
    np.testing.assert_array_equal(swapped.x, np.arange(6.0).reshape(3, 2)[:, ::-1])
    with pytest.raises(DataError, match="unknown feature column 'w'; columns: u, v"):
        load_table(path, features=["u", "w"])


def test_npz_one_dimensional_y_is_one_label_with_default_names(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((3, 2)), y=np.array([0, 1, 1]))
    table = load_table(path)
    assert table.y.shape == (3, 1) and table.label_names == ["label_0"]
    assert table.feature_names is None   # features are matched by position (npnet.cli)


@pytest.mark.parametrize("arrays, message", [
    ({"y": np.ones((2, 1))}, "needs an array 'x'"),
    ({"x": np.array([["a", "b"]])}, "must hold numbers"),
    ({"x": np.ones(3)}, "non-empty 2-D array"),
    ({"x": np.ones((2, 2)), "y": np.ones((3, 1))}, "x has 2 rows, y has 3"),
    ({"x": np.ones((2, 2)), "y": np.ones((2, 1)), "label_names": np.array(["a", "b"])}, "'label_names' must be 1"),
    ({"x": np.array([[1.0, np.inf]])}, "feature column 'feature_1' has 1 NaN or infinite"),
    ({"x": np.ones((2, 2)), "y": np.array([[0.0], [-1.0]])}, r"values in \[-1, 0\]"),
])
def test_npz_refusals_name_the_problem(tmp_path, arrays, message):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_table(path)


def test_a_single_npy_array_is_not_a_data_file(tmp_path):
    path = tmp_path / "x.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.ones((2, 2)))
    with pytest.raises(DataError, match="not an NPZ archive"):
        load_table(path)


@pytest.mark.parametrize("text, message", [
    ("", "empty CSV"),
    ("a,b\n", "header but no data rows"),
    ("a,a\n1,2\n", "distinct, non-empty column names"),
    ("a,\n1,2\n", "distinct, non-empty column names"),
    ("a,b\n1,2,3\n4,5,6\n", "line 2 has 3 cells, the header has 2"),     # every row too long (a pandas warning)
    ("a,b\n1,2\n\n4,5,6\n", "line 4 has 3 cells, the header has 2"),     # blank lines count in line numbers
    ("a,b\n1,2\n4,\n", "column 'b', data line 2: an empty cell"),
    ("a,b\n1,2\n4,  \n", "column 'b', data line 2: an empty cell"),
    ("a,b\n1,2\n4,NA\n", "column 'b', data line 2: 'NA', not a number"),
    ("a,b\n1,2\n4,nan\n", "feature column 'b' has 1 NaN or infinite value(s), first in data row 2"),
    ("a,b\n1,2\n4,1e999\n", "feature column 'b' has 1 NaN or infinite value(s), first in data row 2"),
])
def test_csv_refusals_name_the_line_and_column(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=re.escape(message)):
        load_table(path)


def test_labels_that_leave_no_feature_are_refused(table_csv):
    with pytest.raises(DataError, match="no feature columns left"):
        load_table(table_csv, labels=["a", "b", "c", "lab1", "lab2"])


def test_labels_and_label_prefix_together_are_refused(table_csv):
    with pytest.raises(ValueError, match="labels or label_prefix, not both"):
        load_table(table_csv, labels=["lab1"], label_prefix="lab")


def test_split_is_a_seeded_partition_with_sklearns_test_count():
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10.0).reshape(10, 1)
    x_train, x_test, y_train, y_test = split(x, y, 0.33, seed=1)
    assert (len(x_train), len(x_test)) == (6, 4)   # ceil(10 * 0.33) = 4, as train_test_split
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test]).ravel()), np.arange(10.0))
    np.testing.assert_array_equal(x_test[:, 0] / 2, y_test.ravel())   # rows stay paired
    np.testing.assert_array_equal(split(x, y, 0.33, seed=1)[1], x_test)
    assert not np.array_equal(split(x, y, 0.33, seed=2)[1], x_test)
    with pytest.raises(ValueError, match="leaves no training samples"):
        split(x, y, 0.95, seed=0)


# -- what pandas writes, delimiters, exact numbers, the install hint ---------------------------------

def test_a_csv_written_by_pandas_reads_back_with_true_false_labels_as_one_zero(tmp_path, pandas):
    pd = pandas
    frame = pd.DataFrame({"a": [0.5, -1.25, 3.0], "b": [1, 2, 3], "spam": [True, False, True],
                          "ham": [False, False, True]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    assert "True" in (tmp_path / "p.csv").read_text()   # what pandas writes for a bool column
    table = load_table(tmp_path / "p.csv", labels=["spam", "ham"])
    np.testing.assert_array_equal(table.x, frame[["a", "b"]].to_numpy(dtype=float))
    np.testing.assert_array_equal(table.y, [[1, 0], [0, 0], [1, 1]])


def test_the_index_column_pandas_writes_by_default_is_left_out(tmp_path, pandas):
    pd = pandas
    pd.DataFrame({"a": [0.5, 2.0], "y": [True, False]}, index=["r1", "r2"]).to_csv(tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text().startswith(",a,y\n")
    table = load_table(tmp_path / "p.csv", labels=["y"])
    assert table.feature_names == ["a"]
    np.testing.assert_array_equal(np.hstack([table.x, table.y]), [[0.5, 1], [2, 0]])


def test_true_false_and_numbers_may_share_a_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,TRUE\n2,0\n3,false\n4,1\n")
    np.testing.assert_array_equal(load_table(path, labels=["y"]).y.ravel(), [1, 0, 0, 1])


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_separates_the_cells(tmp_path, delimiter):
    path = tmp_path / "t.csv"
    path.write_text(delimiter.join(["a", "b", "y"]) + "\n" + delimiter.join(["1.5", "2", "1"]) + "\n")
    table = load_table(path, labels=["y"], delimiter=delimiter)
    assert table.feature_names == ["a", "b"]
    np.testing.assert_array_equal(table.x, [[1.5, 2]])


@pytest.mark.parametrize("delimiter", ["", ";;", '"', "\n", 1])
def test_a_delimiter_that_is_not_one_plain_character_is_refused(table_csv, delimiter):
    with pytest.raises(ValueError, match="delimiter must be one character"):
        load_table(table_csv, delimiter=delimiter)


def test_floats_written_with_repr_read_back_bit_for_bit(tmp_path, rng):
    # pandas 3's default parser rounds correctly (npnet[data] requires it); Python's float() is the reference.
    x = np.concatenate([rng.normal(size=(500, 2)), np.exp(rng.normal(scale=30, size=(500, 2)))])
    path = tmp_path / "f.csv"
    path.write_text("a,b\n" + "".join(f"{p!r},{q!r}\n" for p, q in x.tolist()))
    np.testing.assert_array_equal(load_table(path).x, x)


def test_columns_that_are_not_read_may_hold_anything(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,a,b\nrow-one,1,2\nrow-two,3,4\n")
    np.testing.assert_array_equal(load_table(path, features=["b", "a"]).x, [[2, 1], [4, 3]])




def test_without_pandas_a_csv_asks_for_the_data_extra(table_csv, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "pandas", None)   # None in sys.modules makes the import raise ImportError
    with pytest.raises(ImportError, match=r"^reading CSV files needs pandas: pip install 'npnet\[data\]'$"):
        load_table(table_csv)
