"""Tests for the bundled dataset loaders in skgru.datasets."""

import doctest
from importlib import resources

import numpy as np
import pytest
from sklearn.utils import Bunch

import skgru.datasets
from skgru.datasets import (
    _base,
    load_acsf1,
    load_arrowhead,
    load_basic_motions,
    load_gunpoint,
    load_italy_power_demand,
    load_osuleaf,
    load_pickup_gesture_wiimote_z,
)

# loader -> (n_train, n_test, T, C, classes, citation author)
FIXED = {
    load_gunpoint: (50, 150, 150, 1, ["1", "2"], "Dau"),
    load_italy_power_demand: (67, 1029, 24, 1, ["1", "2"], "Dau"),
    load_basic_motions: (
        40,
        40,
        100,
        6,
        ["Badminton", "Running", "Standing", "Walking"],
        "Bagnall",
    ),
    load_arrowhead: (36, 175, 251, 1, ["0", "1", "2"], "Dau"),
    load_osuleaf: (200, 242, 427, 1, ["1", "2", "3", "4", "5", "6"], "Dau"),
    load_acsf1: (100, 100, 1460, 1, [str(i) for i in range(10)], "Dau"),
}
ALL_LOADERS = [*FIXED, load_pickup_gesture_wiimote_z]
PICKUP_CLASSES = [str(i) for i in range(1, 11)]
SPLITS = ["train", "test"]


def test_public_api():
    expected = [f.__name__ for f in ALL_LOADERS] + ["make_word_order_docs"]
    assert sorted(skgru.datasets.__all__) == sorted(expected)
    for name in skgru.datasets.__all__:
        assert callable(getattr(skgru.datasets, name))


@pytest.mark.parametrize("loader", list(FIXED), ids=lambda f: f.__name__)
@pytest.mark.parametrize("split", SPLITS)
def test_fixed_length_bunch(loader, split):
    n_train, n_test, T, C, classes, _ = FIXED[loader]
    n = n_train if split == "train" else n_test
    bunch = loader(split=split)
    assert isinstance(bunch, Bunch)
    assert set(bunch) >= {
        "data",
        "target",
        "lengths",
        "target_names",
        "feature_names",
        "DESCR",
        "filename",
    }
    X = bunch.data
    assert isinstance(X, np.ndarray)
    assert X.dtype == np.float32
    assert X.shape == (n, T, C)
    assert np.all(np.isfinite(X))

    y = bunch.target
    assert isinstance(y, np.ndarray)
    assert y.shape == (n,)
    assert y.dtype.kind == "U"
    assert sorted(set(y.tolist())) == classes
    assert bunch.target_names.tolist() == classes

    assert np.issubdtype(bunch.lengths.dtype, np.integer)
    assert bunch.lengths.shape == (n,)
    assert np.all(bunch.lengths == T)

    assert bunch.feature_names == [f"dim_{c}" for c in range(C)]
    assert bunch.filename.endswith(".npz")


@pytest.mark.parametrize("split", SPLITS)
def test_pickup_variable_length(split):
    bunch = load_pickup_gesture_wiimote_z(split=split)
    data, lengths = bunch.data, bunch.lengths
    assert isinstance(data, list)
    assert len(data) == 50
    assert lengths.shape == (50,)
    assert np.issubdtype(lengths.dtype, np.integer)
    for x, n in zip(data, lengths):
        assert isinstance(x, np.ndarray)
        assert x.dtype == np.float32
        assert x.shape == (n, 1)
        assert np.all(np.isfinite(x))
    # the series really have different lengths, within the documented range
    assert len(set(lengths.tolist())) > 1
    assert lengths.min() >= 29
    assert lengths.max() <= 361
    assert bunch.target.shape == (50,)
    assert bunch.target.dtype.kind == "U"
    assert sorted(set(bunch.target.tolist()), key=int) == PICKUP_CLASSES
    assert sorted(bunch.target_names.tolist(), key=int) == PICKUP_CLASSES
    assert bunch.feature_names == ["dim_0"]


def test_pickup_ragged_arrays_are_independent_and_match_file():
    train = load_pickup_gesture_wiimote_z()
    assert train.lengths.min() == 29
    assert train.lengths.max() == 361
    # each array is its own copy, not a view into a shared padded buffer
    assert all(x.base is None for x in train.data)
    path = resources.files("skgru.datasets") / "data" / "PickupGestureWiimoteZ.npz"
    with resources.as_file(path) as p, np.load(p, allow_pickle=False) as npz:
        X, L = npz["X_train"], npz["len_train"]
    for i, x in enumerate(train.data):
        np.testing.assert_array_equal(x, X[i, : L[i]])


@pytest.mark.parametrize("loader", ALL_LOADERS, ids=lambda f: f.__name__)
def test_train_and_test_splits_differ(loader):
    train, test = loader(split="train"), loader(split="test")
    assert train.target_names.tolist() == test.target_names.tolist()
    assert train.feature_names == test.feature_names
    if isinstance(train.data, np.ndarray) and train.data.shape == test.data.shape:
        assert not np.array_equal(train.data, test.data)


@pytest.mark.parametrize("loader", ALL_LOADERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("split", SPLITS)
def test_return_X_y(loader, split):
    bunch = loader(split=split)
    result = loader(split=split, return_X_y=True)
    assert isinstance(result, tuple)
    assert len(result) == 2
    X, y = result
    np.testing.assert_array_equal(y, bunch.target)
    if isinstance(bunch.data, list):
        assert isinstance(X, list)
        assert len(X) == len(bunch.data)
        for a, b in zip(X, bunch.data):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(X, bunch.data)
        assert X.dtype == np.float32


@pytest.mark.parametrize("loader", ALL_LOADERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", ["val", "TRAIN", "", None, 0, "all"])
def test_invalid_split(loader, bad):
    with pytest.raises(ValueError, match="split"):
        loader(split=bad)


@pytest.mark.parametrize("loader", ALL_LOADERS, ids=lambda f: f.__name__)
def test_keyword_only(loader):
    with pytest.raises(TypeError):
        loader("train")


@pytest.mark.parametrize(
    "loader, author, baselines",
    [
        (load_gunpoint, "Dau", ["0.913", "0.927"]),
        (load_italy_power_demand, "Dau", ["0.955", "0.946"]),
        (load_basic_motions, "Bagnall", ["1.0"]),
        (load_pickup_gesture_wiimote_z, "Dau", ["0.80", "WEASEL"]),
        (load_arrowhead, "Dau", ["0.800", "0.703", "Ye, L. and Keogh"]),
        (load_osuleaf, "Dau", ["0.521", "0.612", "0.591", "Gandhi"]),
        (load_acsf1, "Dau", ["0.540", "0.620", "0.640", "Gisler"]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_descr(loader, author, baselines):
    for split in SPLITS:
        bunch = loader(split=split)
        descr = bunch.DESCR
        assert isinstance(descr, str)
        assert author in descr
        assert "2019" in descr or "2018" in descr
        assert "aeon" in descr
        assert f"Split loaded: {split!r}" in descr
        assert f"Number of series: {len(bunch.target)}" in descr
        for value in baselines:
            assert value in descr
    assert "UEA" in load_basic_motions().DESCR
    assert "UCR" in load_gunpoint().DESCR


# loader -> (train class counts, test class counts), as in the archive files
CLASS_COUNTS = {
    load_arrowhead: ([12, 12, 12], [69, 53, 53]),
    load_osuleaf: ([34, 29, 33, 53, 36, 15], [32, 55, 42, 44, 46, 23]),
    load_acsf1: ([10] * 10, [10] * 10),
}


@pytest.mark.parametrize("loader", list(CLASS_COUNTS), ids=lambda f: f.__name__)
def test_new_ucr_class_counts(loader):
    for split, expected in zip(SPLITS, CLASS_COUNTS[loader]):
        bunch = loader(split=split)
        counts = [int((bunch.target == c).sum()) for c in bunch.target_names]
        assert counts == expected


@pytest.mark.parametrize("loader", list(CLASS_COUNTS), ids=lambda f: f.__name__)
def test_new_ucr_match_file_and_are_z_normalised(loader):
    name = {
        load_arrowhead: "ArrowHead",
        load_osuleaf: "OSULeaf",
        load_acsf1: "ACSF1",
    }[loader]
    bunch = loader(split="test")
    assert bunch.filename.endswith(f"{name}.npz")
    path = resources.files("skgru.datasets") / "data" / f"{name}.npz"
    with resources.as_file(path) as p, np.load(p, allow_pickle=False) as npz:
        np.testing.assert_array_equal(bunch.data, npz["X_test"])
        np.testing.assert_array_equal(bunch.target, npz["y_test"])
        assert npz["classes"].tolist() == bunch.target_names.tolist()
    # the archive stores each of these series z-normalised
    np.testing.assert_allclose(bunch.data.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(bunch.data.std(axis=1), 1.0, atol=5e-3)


def test_baseline_sources_in_descr():
    for loader in (load_arrowhead, load_osuleaf, load_acsf1):
        descr = loader().DESCR
        assert "UCR archive 2018 table" in descr
        assert "time_series_data_2018" in descr
        assert "Fawaz" not in descr
    for loader in (load_gunpoint, load_italy_power_demand):
        descr = loader().DESCR
        assert "Bagnall, A., Lines, J." in descr
        assert "Fawaz" in descr


def test_docstrings_are_numpydoc():
    for loader in ALL_LOADERS:
        doc = loader.__doc__
        assert doc is not None
        for section in ("Parameters", "Returns", "Examples", "References"):
            assert f"\n    {section}\n    ---" in doc
        assert "{params}" not in doc
        assert ">>> " in doc


def test_doctests():
    result = doctest.testmod(
        _base, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False, report=False
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_word_order_docs_label_is_the_order_of_the_two_words():
    docs, y = skgru.datasets.make_word_order_docs(300, random_state=0)
    assert len(docs) == len(y) == 300
    for doc, label in zip(docs, y):
        words = doc.split()
        assert words.count("alpha") == words.count("beta") == 1
        assert 6 <= len(words) <= 11  # 4 to 9 fillers and the two words
        assert set(words) - {"alpha", "beta"} <= {f"w{i}" for i in range(20)}
        assert label == int(words.index("alpha") < words.index("beta"))
    assert 0.35 < y.mean() < 0.65  # both orders, about equally often
    again, y_again = skgru.datasets.make_word_order_docs(300, random_state=0)
    assert again == docs and np.array_equal(y_again, y)
    other, _ = skgru.datasets.make_word_order_docs(300, random_state=1)
    assert other != docs
