"""save_model / load_model: a zip of .npy arrays and JSON, loaded without pickle.

Round trips must give bitwise identical predictions and identical continued
training; loading must refuse anything it did not write (pickles, unknown
members or keys, shapes that disagree, newer versions) with a ValueError.
"""

import io
import json
import pickle
import re
import warnings
import zipfile

import numpy as np
import pytest

from skgru import ConstrainedGRUClassifier, load_model, save_model
from skgru.constraints import Constraint, MaxNorm, MinMaxNorm, UnitNorm
from skgru.io._persistence import FORMAT_VERSION

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _est(**kw):
    kw = {"units": 3, "max_iter": 3, "random_state": 0, "device": "cpu", **kw}
    return ConstrainedGRUClassifier(**kw)


def _data(n=24, T=5, F=2, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    y = np.arange(n) % n_classes
    return X, y


def _ragged(n=24, F=2, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2 + i % 4, F)) for i in range(n)]


def _round_trip(est, tmp_path):
    path = tmp_path / "model.skgru"
    save_model(est, path)
    return load_model(path)


def _same_value(a, b):
    if isinstance(a, np.random.RandomState):
        sa, sb = a.get_state(legacy=True), b.get_state(legacy=True)
        return sa[0] == sb[0] and np.array_equal(sa[1], sb[1]) and sa[2:] == sb[2:]
    return a == b  # constraints compare by type and parameters


def _assert_same_model(a, b):
    assert type(a) is type(b)
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert pa.keys() == pb.keys()
    assert all(_same_value(pa[k], pb[k]) for k in pa), (pa, pb)
    assert vars(a).keys() == vars(b).keys()
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.dtype == wb.dtype and wa.flags.writeable
        np.testing.assert_array_equal(wa, wb)
    assert a.classes_.dtype == b.classes_.dtype
    np.testing.assert_array_equal(a.classes_, b.classes_)
    assert a.loss_curve_ == b.loss_curve_


CASES = {
    "3d-binary": lambda: (_est(), *_data()),
    "3d-multiclass-float64": lambda: (_est(dtype="float64"), *_data(n_classes=3)),
    "2d-binary": lambda: (_est(), _data()[0][:, :, 0], _data()[1]),
    "ragged-string-labels": lambda: (
        _est(),
        _ragged(),
        np.array(["cat", "dog", "emu", "yak"])[np.arange(24) % 4],
    ),
    "ragged-string-binary": lambda: (_est(), _ragged(), np.array(["no", "yes"])[np.arange(24) % 2]),
    "object-string-labels": lambda: (
        _est(),
        _data()[0],
        np.array(["a", "b", "c"], dtype=object)[np.arange(24) % 3],
    ),
    "bool-labels": lambda: (_est(), _data()[0], np.arange(24) % 2 == 0),
    "constraints-and-class-weight": lambda: (
        _est(
            kernel_constraint=MaxNorm(2.0, axis=(0,)),
            recurrent_constraint="unit_norm",
            bias_constraint={"class_name": "MinMaxNorm", "config": {"max_value": 3.0}},
            class_weight={0: 1.0, 1: 2.5, 2: 1.0},
            random_state=np.random.RandomState(7),
            reset_after=False,
        ),
        *_data(n_classes=3),
    ),
    "early-stopping": lambda: (
        _est(early_stopping=True, validation_fraction=0.25, max_iter=4),
        *_data(n=40),
    ),
    "stacked-bidirectional": lambda: (
        _est(num_layers=2, bidirectional=True, pooling="max"),
        _ragged(),
        np.arange(24) % 3,
    ),
    "tokens-mean-pooling": lambda: (
        _est(embedding_dim=4, pooling="mean", embedding_constraint=UnitNorm(axis=1)),
        np.random.default_rng(3).integers(0, 12, size=(24, 6)),
        np.arange(24) % 3,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_predicts_bitwise_identically(tmp_path, name):
    est, X, y = CASES[name]()
    est.fit(X, y)
    loaded = _round_trip(est, tmp_path)
    _assert_same_model(est, loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.predict(X).dtype == est.predict(X).dtype
    # Every fitted attribute comes back with its value and type.
    for key, value in vars(est).items():
        other = getattr(loaded, key)
        if not isinstance(value, (list, dict, np.ndarray, np.random.RandomState)):
            assert type(other) is type(value) and (other == value or value != value), key


def test_multilabel_and_regressor_round_trip(tmp_path):
    from skgru import ConstrainedGRURegressor

    X, _ = _data()
    rng = np.random.default_rng(4)
    Y = (rng.random((len(X), 3)) > 0.5).astype(int)
    est = _est().fit(X, Y)
    loaded = _round_trip(est, tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    reg = ConstrainedGRURegressor(units=3, max_iter=3, random_state=0, device="cpu")
    reg.fit(_ragged(), rng.normal(size=(24, 2)))
    loaded = _round_trip(reg, tmp_path)
    assert type(loaded) is ConstrainedGRURegressor
    np.testing.assert_array_equal(loaded.predict(_ragged()), reg.predict(_ragged()))


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_loaded_model_continues_training_identically(tmp_path, solver):
    X, y = _data(n_classes=3)
    est = _est(warm_start=True, solver=solver, max_iter=2).fit(X, y)
    loaded = _round_trip(est, tmp_path)
    est.fit(X, y)
    loaded.fit(X, y)
    _assert_same_model(est, loaded)
    assert est.t_ == loaded.t_ and est.n_iter_ == loaded.n_iter_
    est.partial_fit(X[:10], y[:10])
    loaded.partial_fit(X[:10], y[:10])
    _assert_same_model(est, loaded)


def test_unfitted_round_trip_and_file_objects(tmp_path):
    est = _est(kernel_constraint=MinMaxNorm(0.5, 2.0, rate=0.5), units=7)
    buf = io.BytesIO()
    save_model(est, buf)
    buf.seek(0)
    loaded = load_model(buf)
    assert loaded.get_params() == est.get_params()
    assert set(vars(loaded)) == set(est.get_params(deep=False))


def test_same_model_gives_the_same_bytes(tmp_path):
    est = _est().fit(*_data())
    save_model(est, tmp_path / "a")
    save_model(est, tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_file_layout(tmp_path):
    est = _est().fit(*_data())
    save_model(est, tmp_path / "m")
    with zipfile.ZipFile(tmp_path / "m") as zf:
        doc = json.loads(zf.read("model.json"))
        names = set(zf.namelist())
    assert doc["format"] == "skgru-model" and doc["format_version"] == FORMAT_VERSION
    assert doc["estimator"] == "ConstrainedGRUClassifier"
    assert names == {"model.json", *doc["arrays"]}
    assert all(spec["dtype"][1] in "biufU" for spec in doc["arrays"].values())
    assert doc["params"]["units"] == 3


# -- refused at save time ------------------------------------------------------------------


class Clip(Constraint):
    def __init__(self, bound=1.0):
        self.bound = bound

    def _project(self, w):
        return np.clip(w, -self.bound, self.bound)


@pytest.mark.parametrize(
    "constraint, fragment",
    [
        (lambda w: w, "it is a callable (<lambda>)"),
        (np.tanh, "it is a callable (tanh)"),
        (Clip(0.5), "is a user-defined constraint class"),
    ],
    ids=["lambda", "ufunc", "user-class"],
)
def test_save_refuses_code(tmp_path, constraint, fragment):
    est = _est(kernel_constraint=constraint).fit(*_data())
    with pytest.raises(TypeError, match=re.escape(fragment)):
        save_model(est, tmp_path / "m")
    assert not (tmp_path / "m").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_save_refuses_other_objects(tmp_path):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="save_model saves skgru estimators"):
        save_model(LogisticRegression(), tmp_path / "m")
    est = _est().fit(*_data())
    est.extra_ = object()
    with pytest.raises(TypeError, match="attribute 'extra_'"):
        save_model(est, tmp_path / "m")


# -- refused at load time ------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    est = _est().fit(*_data())
    path = tmp_path_factory.mktemp("saved") / "model.skgru"
    save_model(est, path)
    return path


def _rewrite(src, dst, edit_doc=None, members=None, drop=()):
    """Copy a model file, editing its JSON document and replacing or adding members."""
    with zipfile.ZipFile(src) as zf:
        contents = {n: zf.read(n) for n in zf.namelist()}
    doc = json.loads(contents["model.json"])
    if edit_doc is not None:
        edit_doc(doc)
    contents["model.json"] = json.dumps(doc).encode()
    contents.update(members or {})
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in contents.items():
            if name not in drop:
                zf.writestr(name, data)
    return dst


def _npy(a, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


def _weight_path(doc, i):
    return doc["attributes"]["_weights"][i]["path"]


def _set_weight(doc_path, i, array):
    """Members and document edit replacing weight ``i`` consistently with ``array``."""

    def edit(doc):
        doc["arrays"][_weight_path(doc, i)] = {"shape": list(array.shape), "dtype": array.dtype.str}

    with zipfile.ZipFile(doc_path) as zf:
        path = _weight_path(json.loads(zf.read("model.json")), i)
    return edit, {path: _npy(array)}


def _set(key, value, where="attributes"):
    """A document edit setting ``doc[where][key]`` (``doc[key]`` for ``where=None``)."""

    def edit(doc):
        (doc if where is None else doc[where])[key] = value

    return edit


def test_refuses_a_pickle(tmp_path, saved):
    est = load_model(saved)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(est))
    with pytest.raises(ValueError, match="it looks like a pickle. load_model never unpickles"):
        load_model(path)
    path.write_bytes(pickle.dumps(est, protocol=0))
    with pytest.raises(ValueError, match="looks like a pickle"):
        load_model(path)


def test_refuses_other_files(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not a zip archive written by skgru.save_model"):
        load_model(path)
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a readable zip archive"):
        load_model(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("other.txt", "x")
    with pytest.raises(ValueError, match="the archive has no 'model.json'"):
        load_model(path)


def test_refuses_pickled_npy_member(tmp_path, saved):
    # An object array written with pickle, in place of a weight, manifest unchanged.
    obj = np.array([{"boom": 1}, None], dtype=object)
    with zipfile.ZipFile(saved) as zf:
        member = _weight_path(json.loads(zf.read("model.json")), 0)
    bad = _rewrite(saved, tmp_path / "m", members={member: _npy(obj, allow_pickle=True)})
    with pytest.raises(ValueError, match="pickled data is never loaded|larger than its manifest"):
        load_model(bad)

    # Same, with the manifest claiming an object dtype.
    def edit(doc):
        doc["arrays"][_weight_path(doc, 0)] = {"shape": [2], "dtype": "|O"}

    bad = _rewrite(saved, tmp_path / "m2", edit, {member: _npy(obj, allow_pickle=True)})
    with pytest.raises(ValueError, match="object arrays would need pickle"):
        load_model(bad)


_EVIL = {"__skgru__": "constraint", "class_name": "Evil", "config": {}}
_RAW_CONFIG = {"__skgru__": "constraint", "class_name": "MaxNorm", "config": {"max_value": -1}}
_BAD_CONFIG = {
    "__skgru__": "constraint",
    "class_name": "MaxNorm",
    "config": {"__skgru__": "dict", "keys": ["max_value"], "values": [-1]},
}


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (_set("format_version", FORMAT_VERSION + 1, None), "newer than the version"),
        (_set("format_version", "1", None), "is not a positive integer"),
        (_set("format", "other", None), "format is 'other'"),
        (_set("extra", 1, None), "unknown keys ['extra']"),
        (_set("estimator", "os.system", None), "unknown estimator 'os.system'"),
        (_set("bogus", 1, "params"), "unknown parameters ['bogus']"),
        (_set("units", 0, "params"), "invalid parameters"),
        (_set("predict", 1), "unknown attribute 'predict'"),
        (_set("__class__", 1), "unknown attribute '__class__'"),
        (_set("plain", 1), "unknown attribute 'plain'"),
        (_set("n_step_features_", 5), "the parameters imply 72 weights but the file holds 67"),
        (_set("n_step_features_", 1), "weight 0 has shape/dtype ((2, 9)"),
        (_set("n_outputs_", 3), "weight 3 has shape/dtype ((3, 1)"),
        (_set("out_activation_", "softmax"), "do not match 2 classes"),
        (_set("_input_kind", "4d"), "_input_kind='4d'"),
        (_set("units", 10**6, "params"), "the parameters imply"),
        (_set("num_layers", 2, "params"), "the parameters imply 99 weights but the file holds 67"),
        (_set("loss_", {"__skgru__": "pickle", "data": "x"}), "unknown tag 'pickle'"),
        (_set("loss_", {"__skgru__": "float", "value": "1e999"}), "not a valid non-finite float"),
        (_set("kernel_constraint", _EVIL, "params"), "names constraint 'Evil'"),
        (_set("kernel_constraint", _RAW_CONFIG, "params"), "config is not a valid value"),
        (
            _set("kernel_constraint", _BAD_CONFIG, "params"),
            "has an invalid config: max_value must be a real number >= 0",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_refuses_tampered_documents(tmp_path, saved, edit, fragment):
    bad = _rewrite(saved, tmp_path / "m", edit)
    with pytest.raises(ValueError, match=_re(fragment)):
        load_model(bad)


def _re(fragment):
    return re.escape(fragment)


def test_refuses_unknown_and_missing_members(tmp_path, saved):
    bad = _rewrite(saved, tmp_path / "a", members={"payload.pkl": b"\x80\x04."})
    with pytest.raises(ValueError, match=_re("unknown members ['payload.pkl']")):
        load_model(bad)
    bad = _rewrite(saved, tmp_path / "b", members={"arrays/99.npy": _npy(np.zeros(2))})
    with pytest.raises(ValueError, match="unknown members"):
        load_model(bad)

    with zipfile.ZipFile(saved) as zf:
        member = _weight_path(json.loads(zf.read("model.json")), 1)
    bad = _rewrite(saved, tmp_path / "c", drop=(member,))
    with pytest.raises(ValueError, match="missing from the archive"):
        load_model(bad)

    def unused(doc):
        doc["arrays"]["arrays/99.npy"] = {"shape": [2], "dtype": "<f8"}

    bad = _rewrite(saved, tmp_path / "d", unused, {"arrays/99.npy": _npy(np.zeros(2))})
    with pytest.raises(ValueError, match="not used by any value"):
        load_model(bad)


def test_refuses_wrong_shapes_and_values(tmp_path, saved):
    # The member disagrees with the manifest.
    with zipfile.ZipFile(saved) as zf:
        member = _weight_path(json.loads(zf.read("model.json")), 0)
    bad = _rewrite(saved, tmp_path / "a", members={member: _npy(np.zeros((3, 9), "<f4"))})
    with pytest.raises(ValueError, match="but the manifest says"):
        load_model(bad)
    # Consistent with the manifest, but not with the model.
    edit, members = _set_weight(saved, 0, np.zeros((3, 9), "<f4"))
    bad = _rewrite(saved, tmp_path / "b", edit, members)
    with pytest.raises(ValueError, match=_re("weight 0 has shape/dtype ((3, 9)")):
        load_model(bad)
    edit, members = _set_weight(saved, 1, np.zeros((3, 9), "<f8"))
    bad = _rewrite(saved, tmp_path / "c", edit, members)
    with pytest.raises(ValueError, match="float32"):
        load_model(bad)
    edit, members = _set_weight(saved, 1, np.full((3, 9), np.nan, "<f4"))
    bad = _rewrite(saved, tmp_path / "d", edit, members)
    with pytest.raises(ValueError, match="weight 1 contains NaN or infinity"):
        load_model(bad)


def test_refuses_a_member_larger_than_its_manifest(tmp_path, saved):
    with zipfile.ZipFile(saved) as zf:
        member = _weight_path(json.loads(zf.read("model.json")), 4)
    big = _npy(np.zeros(10**6, "<f4"))
    bad = _rewrite(saved, tmp_path / "a", members={member: big})
    with pytest.raises(ValueError, match="larger than its manifest shape and dtype allow"):
        load_model(bad)


# -- skops ---------------------------------------------------------------------------------


def test_skops_round_trip_trusting_only_skgru_types(tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = _ragged(), np.array(["lo", "mid", "hi"])[np.arange(24) % 3]
    est = _est(kernel_constraint=MaxNorm(1.5), recurrent_constraint="non_neg").fit(X, y)
    path = tmp_path / "model.skops"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sio.dump(est, path)
        untrusted = sio.get_untrusted_types(file=path)
        assert untrusted and all(t.startswith("skgru.") for t in untrusted)
        with pytest.raises(Exception, match="[Uu]ntrusted"):
            sio.load(path)
        loaded = sio.load(path, trusted=untrusted)
    _assert_same_model(est, loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
