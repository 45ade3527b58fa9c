"""Saving and loading estimators without pickle.

A model file (format ``"skgru-model"``, version 1) is a zip archive with

``model.json``
    UTF-8, strict JSON (no NaN literals)::

        {"format": "skgru-model", "format_version": 1, "skgru_version": "0.1.0",
         "estimator": "ConstrainedGRUClassifier",
         "params": {name: value, ...},        # get_params(deep=False)
         "attributes": {name: value, ...},    # fitted state: classes_, _weights, ...
         "arrays": {"arrays/0.npy": {"shape": [2, 9], "dtype": "<f4"}, ...}}

    A value is plain JSON (null, bool, int, float, str, list) or a tagged
    object ``{"__skgru__": tag, ...}`` for what JSON lacks: ``"array"`` (a
    reference to an ``.npy`` member), ``"dict"`` (keys of any encodable type),
    ``"tuple"``, ``"float"`` (NaN and infinities), ``"scalar"`` (a NumPy
    scalar with its dtype), ``"constraint"`` (a built-in constraint as
    ``{"class_name", "config"}`` from its ``get_config``) and
    ``"random_state"`` (a ``RandomState``'s MT19937 state).

``arrays/<n>.npy``
    One array each (weights, ``classes_``, optimizer moments), numeric, bool
    or unicode; object arrays are never written.

:func:`load_model` reads arrays with ``np.load(..., allow_pickle=False)`` only
and checks everything before building the estimator: the format name and
version, the document's keys, every member of the archive (an unlisted one is
refused), each array's dtype and shape against the manifest, the parameter and
attribute names, and the weights' shapes against the ones the model would
create, so that a tampered file cannot make a kernel index out of bounds.
Code is never stored: a constraint given as a callable or a user-defined
class is refused at save time.
"""

import io
import json
import os
import re
import tempfile
import zipfile

import numpy as np

from ..estimators._base import _BaseGRU
from ..model._network import init_embedding, init_params
from ..training import _constraints

__all__ = ["save_model", "load_model"]

FORMAT_NAME = "skgru-model"
FORMAT_VERSION = 1

_DOCUMENT = "model.json"
_DOC_KEYS = {
    "format",
    "format_version",
    "skgru_version",
    "estimator",
    "params",
    "attributes",
    "arrays",
}
_TAG = "__skgru__"
_ARRAY_NAME = re.compile(r"arrays/[0-9]{1,9}\.npy")
# Kinds an array may have in a file: bool, integers, floats, unicode strings.
_ARRAY_KINDS = "biufU"
_MAX_DOCUMENT_BYTES = 64 * 2**20
# Room for the .npy header on top of the data.
_NPY_HEADER_SLACK = 4096
# Fixed member timestamps so that saving the same model twice gives the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_BUILTIN_CONSTRAINTS = {cls.__name__: cls for cls in _constraints._ALL_CONSTRAINTS.values()}


def _version():
    from .. import __version__

    return __version__


def _estimators():
    """The public skgru estimators, by class name: the only classes a file may name."""
    import skgru

    public = (getattr(skgru, name, None) for name in skgru.__all__)
    return {
        cls.__name__: cls for cls in public if isinstance(cls, type) and issubclass(cls, _BaseGRU)
    }


# -- encoding ------------------------------------------------------------------


class _Encoder:
    """Turns parameter and attribute values into JSON values plus ``.npy`` arrays."""

    def __init__(self):
        self.arrays = {}

    def array(self, a, where):
        a = np.asarray(a)
        tag = {_TAG: "array"}
        if a.dtype == object:
            if not all(isinstance(v, str) for v in a.flat):
                raise TypeError(
                    f"save_model cannot store {where}: an object array whose elements are "
                    "not all strings would need pickle."
                )
            a = a.astype(str) if a.size else np.empty(a.shape, dtype="<U1")
            tag["object"] = True
        if a.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"save_model cannot store {where}: arrays of dtype {a.dtype}.")
        name = f"arrays/{len(self.arrays)}.npy"
        self.arrays[name] = a
        tag["path"] = name
        return tag

    def value(self, v, where):
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, str):
            return str(v)
        # Before float: np.float64 is a float subclass, and its type must survive.
        if isinstance(v, np.generic):
            if v.dtype.kind not in "biuf":
                raise TypeError(f"save_model cannot store {where}: NumPy scalar {v!r}.")
            item = v.item()
            if isinstance(item, float) and not np.isfinite(item):
                item = repr(item)
            return {_TAG: "scalar", "dtype": v.dtype.str, "value": item}
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return float(v) if np.isfinite(v) else {_TAG: "float", "value": repr(float(v))}
        if isinstance(v, np.ndarray):
            return self.array(v, where)
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, tuple):
            return {
                _TAG: "tuple",
                "items": [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)],
            }
        if isinstance(v, dict):
            keys = list(v)
            return {
                _TAG: "dict",
                "keys": [self.value(k, f"{where} key {k!r}") for k in keys],
                "values": [self.value(v[k], f"{where}[{k!r}]") for k in keys],
            }
        if isinstance(v, _constraints.Constraint):
            if _BUILTIN_CONSTRAINTS.get(type(v).__name__) is not type(v):
                raise TypeError(
                    f"save_model cannot store {where}: {v!r} is a user-defined constraint "
                    f"class ({type(v).__module__}.{type(v).__qualname__}); only the built-in "
                    f"constraints {sorted(_BUILTIN_CONSTRAINTS)} are stored (by their config), "
                    "since loading must never import or run code."
                )
            return {
                _TAG: "constraint",
                "class_name": type(v).__name__,
                "config": self.value(v.get_config(), f"{where}.get_config()"),
            }
        if isinstance(v, np.random.RandomState):
            _, keys, pos, has_gauss, cached = v.get_state(legacy=True)
            return {
                _TAG: "random_state",
                "keys": self.array(keys, f"{where} state"),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached),
            }
        if callable(v):
            name = getattr(v, "__qualname__", type(v).__qualname__)
            raise TypeError(
                f"save_model cannot store {where}: it is a callable ({name}), and a model "
                "file holds data, never code. Use a built-in constraint from "
                "skgru.constraints (MaxNorm, UnitNorm, NonNeg, MinMaxNorm) instead."
            )
        raise TypeError(
            f"save_model cannot store {where}: values of type {type(v).__name__} are not supported."
        )


def save_model(estimator, path):
    """Save an estimator to a pickle-free model file.

    Parameters
    ----------
    estimator : ConstrainedGRUClassifier
        The estimator, fitted or not.
    path : str or path-like or binary file object
        Where to write. A path is written atomically (to a temporary file
        that then replaces ``path``).

    Raises
    ------
    TypeError
        If ``estimator`` is not an skgru estimator, or a parameter or
        attribute cannot be stored without code (a callable or user-defined
        constraint, an object array of non-strings, ...).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier, load_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 5, 2))
    >>> y = np.arange(20) % 2
    >>> clf = ConstrainedGRUClassifier(units=4, max_iter=3, random_state=0, device="cpu")
    >>> clf = clf.fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skgru")
    >>> save_model(clf, path)
    >>> bool((load_model(path).predict(X) == clf.predict(X)).all())
    True
    """
    name = type(estimator).__name__
    estimators = _estimators()
    if estimators.get(name) is not type(estimator):
        raise TypeError(
            f"save_model saves skgru estimators {sorted(estimators)}, got {type(estimator)!r}."
        )
    enc = _Encoder()
    params = estimator.get_params(deep=False)
    doc_params = {k: enc.value(v, f"parameter {k!r}") for k, v in params.items()}
    attributes = {}
    for key, value in vars(estimator).items():
        if key in params:
            continue
        attributes[key] = enc.value(value, f"attribute {key!r}")
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "skgru_version": _version(),
        "estimator": name,
        "params": doc_params,
        "attributes": attributes,
        "arrays": {
            k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in enc.arrays.items()
        },
    }
    text = json.dumps(document, allow_nan=False, indent=1, sort_keys=True)

    def write(fileobj):
        with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo(_DOCUMENT, _ZIP_DATE), text.encode("utf-8"))
            for member, a in enc.arrays.items():
                buf = io.BytesIO()
                np.save(buf, a, allow_pickle=False)
                info = zipfile.ZipInfo(member, _ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())

    if hasattr(path, "write"):
        write(path)
        return
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# -- decoding ------------------------------------------------------------------


def _bad(msg):
    return ValueError(f"Invalid skgru model file: {msg}")


class _Decoder:
    """Inverse of :class:`_Encoder`; every array comes from ``arrays`` (already checked)."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.used = set()

    def _keys(self, d, expected, where):
        if set(d) != expected:
            extra = sorted(set(d) - expected)
            missing = sorted(expected - set(d))
            raise _bad(f"{where} has unknown keys {extra} / missing keys {missing}.")

    def value(self, v, where):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if not isinstance(v, dict) or not isinstance(v.get(_TAG), str):
            raise _bad(f"{where} is not a valid value: {v!r:.200}.")
        tag = v[_TAG]
        if tag == "array":
            self._keys(v, {_TAG, "path"} | ({"object"} & set(v)), where)
            path = v["path"]
            if path not in self.arrays:
                raise _bad(f"{where} refers to {path!r}, which is not in the manifest.")
            if path in self.used:
                raise _bad(f"{where} refers to {path!r} a second time.")
            self.used.add(path)
            a = self.arrays[path]
            if "object" in v:
                if v["object"] is not True or a.dtype.kind != "U":
                    raise _bad(f"{where} has an invalid 'object' flag.")
                a = a.astype(object)
            return a
        if tag == "float":
            self._keys(v, {_TAG, "value"}, where)
            if v["value"] not in ("nan", "inf", "-inf"):
                raise _bad(f"{where} is not a valid non-finite float: {v['value']!r:.50}.")
            return float(v["value"])
        if tag == "scalar":
            self._keys(v, {_TAG, "dtype", "value"}, where)
            try:
                dtype = np.dtype(v["dtype"])
            except TypeError:
                raise _bad(f"{where} has an invalid dtype {v['dtype']!r:.50}.") from None
            value = v["value"]
            if dtype.kind not in "biuf" or not isinstance(value, (bool, int, float, str)):
                raise _bad(f"{where} is not a valid NumPy scalar.")
            if isinstance(value, str):
                if dtype.kind != "f" or value not in ("nan", "inf", "-inf"):
                    raise _bad(f"{where} is not a valid NumPy scalar.")
                value = float(value)
            return dtype.type(value)
        if tag == "tuple":
            self._keys(v, {_TAG, "items"}, where)
            if not isinstance(v["items"], list):
                raise _bad(f"{where} items must be a list.")
            return tuple(self.value(x, f"{where}[{i}]") for i, x in enumerate(v["items"]))
        if tag == "dict":
            self._keys(v, {_TAG, "keys", "values"}, where)
            keys, values = v["keys"], v["values"]
            if not isinstance(keys, list) or not isinstance(values, list):
                raise _bad(f"{where} keys and values must be lists.")
            if len(keys) != len(values):
                raise _bad(f"{where} has {len(keys)} keys but {len(values)} values.")
            out = {}
            for i, (k, x) in enumerate(zip(keys, values)):
                k = self.value(k, f"{where} key {i}")
                if isinstance(k, (list, dict, np.ndarray)):
                    raise _bad(f"{where} key {i} is not hashable.")
                out[k] = self.value(x, f"{where}[{k!r}]")
            return out
        if tag == "constraint":
            self._keys(v, {_TAG, "class_name", "config"}, where)
            name = v["class_name"]
            if name not in _BUILTIN_CONSTRAINTS:
                raise _bad(
                    f"{where} names constraint {name!r:.50}; only {sorted(_BUILTIN_CONSTRAINTS)} "
                    "can be loaded."
                )
            config = self.value(v["config"], f"{where} config")
            if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
                raise _bad(f"{where} config must be a dict with string keys.")
            try:
                constraint = _constraints.get({"class_name": name, "config": config})
                constraint.get_config()  # constructors only store; this validates
                return constraint
            except (TypeError, ValueError) as exc:
                raise _bad(f"{where} has an invalid config: {exc}") from None
        if tag == "random_state":
            self._keys(v, {_TAG, "keys", "pos", "has_gauss", "cached_gaussian"}, where)
            keys = self.value(v["keys"], f"{where} keys")
            rs = np.random.RandomState()
            try:
                state = ("MT19937", keys, v["pos"], v["has_gauss"], v["cached_gaussian"])
                rs.set_state(state)
            except (TypeError, ValueError) as exc:
                raise _bad(f"{where} is not a valid RandomState state: {exc}") from None
            return rs
        raise _bad(f"{where} has an unknown tag {tag!r:.50}.")


def _read_arrays(zf, manifest):
    """Load the arrays listed in ``manifest`` (and nothing else) with ``allow_pickle=False``."""
    if not isinstance(manifest, dict):
        raise _bad("'arrays' must be an object.")
    members = {info.filename: info for info in zf.infolist()}
    unknown = sorted(set(members) - set(manifest) - {_DOCUMENT})
    if unknown:
        raise _bad(f"the archive holds unknown members {unknown[:5]}; refusing to load it.")
    arrays = {}
    for name, spec in manifest.items():
        if not isinstance(name, str) or not _ARRAY_NAME.fullmatch(name):
            raise _bad(f"array name {name!r:.80} is not of the form 'arrays/<n>.npy'.")
        if name not in members:
            raise _bad(f"array {name!r} is listed in the manifest but missing from the archive.")
        if not isinstance(spec, dict) or set(spec) != {"shape", "dtype"}:
            raise _bad(f"the manifest entry of {name!r} must have exactly 'shape' and 'dtype'.")
        shape = spec["shape"]
        if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise _bad(f"the manifest shape of {name!r} is not a list of sizes: {shape!r:.80}.")
        try:
            dtype = np.dtype(spec["dtype"])
        except TypeError:
            raise _bad(
                f"the manifest dtype of {name!r} is invalid: {spec['dtype']!r:.50}."
            ) from None
        if dtype.kind not in _ARRAY_KINDS or dtype.str != spec["dtype"]:
            raise _bad(
                f"array {name!r} has dtype {spec['dtype']!r:.50}; only bool, integer, float "
                "and unicode arrays are allowed (object arrays would need pickle)."
            )
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if members[name].file_size > nbytes + _NPY_HEADER_SLACK:
            raise _bad(f"member {name!r} is larger than its manifest shape and dtype allow.")
        try:
            with zf.open(name) as f:
                a = np.load(io.BytesIO(f.read()), allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise _bad(
                f"member {name!r} is not a plain .npy array ({exc}); pickled data is never loaded."
            ) from None
        if not isinstance(a, np.ndarray):
            raise _bad(f"member {name!r} is not a single .npy array.")
        if a.dtype != dtype or list(a.shape) != shape:
            raise _bad(
                f"array {name!r} has dtype {a.dtype.str} and shape {list(a.shape)}, but the "
                f"manifest says {dtype.str} and {shape}."
            )
        arrays[name] = a.copy(order="K")  # writable, not tied to the read buffer
    return arrays


def _open_document(zf):
    try:
        info = zf.getinfo(_DOCUMENT)
    except KeyError:
        raise _bad(f"the archive has no {_DOCUMENT!r}.") from None
    if info.file_size > _MAX_DOCUMENT_BYTES:
        raise _bad(f"{_DOCUMENT!r} is larger than {_MAX_DOCUMENT_BYTES} bytes.")
    try:
        document = json.loads(zf.read(_DOCUMENT).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _bad(f"{_DOCUMENT!r} is not valid UTF-8 JSON ({exc}).") from None
    if not isinstance(document, dict):
        raise _bad(f"{_DOCUMENT!r} must hold a JSON object.")
    if document.get("format") != FORMAT_NAME:
        raise _bad(f"format is {document.get('format')!r:.50}, expected {FORMAT_NAME!r}.")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _bad(f"format_version {version!r:.50} is not a positive integer.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"The model file has format version {version}, newer than the version this skgru "
            f"({_version()}) reads ({FORMAT_VERSION}); it was written by skgru "
            f"{document.get('skgru_version')!r:.30}. Upgrade skgru to load it."
        )
    if set(document) != _DOC_KEYS:
        extra = sorted(set(document) - _DOC_KEYS)
        missing = sorted(_DOC_KEYS - set(document))
        raise _bad(f"{_DOCUMENT!r} has unknown keys {extra} / missing keys {missing}.")
    for key in ("params", "attributes", "arrays"):
        if not isinstance(document[key], dict):
            raise _bad(f"{key!r} must be an object.")
    return document


def _check_fitted_state(est):
    """Refuse attributes that do not describe the weights the model would create."""
    attrs = vars(est)
    if "_weights" not in attrs:
        return
    for name in ("n_outputs_", "n_step_features_", "_input_kind", "out_activation_"):
        if name not in attrs:
            raise _bad(f"the model has weights but no {name!r}.")
    n_out = est.n_outputs_
    if not isinstance(n_out, int) or isinstance(n_out, bool) or n_out < 1:
        raise _bad(f"n_outputs_={n_out!r:.50} is not a positive integer.")
    classes = attrs.get("classes_")
    if isinstance(classes, np.ndarray) and classes.ndim == 1:
        # Labels are encoded with searchsorted, and the head has one column
        # per class (softmax) or one for two classes (logistic).
        if len(np.unique(classes)) != len(classes) or not np.array_equal(np.sort(classes), classes):
            raise _bad("classes_ must be sorted and unique.")
        if (est.out_activation_ == "softmax" and n_out != len(classes)) or (
            est.out_activation_ == "logistic" and n_out == 1 and len(classes) != 2
        ):
            raise _bad(
                f"n_outputs_={n_out} and out_activation_={est.out_activation_!r} do not match "
                f"{len(classes)} classes."
            )
    if est._input_kind not in ("2d", "3d", "ragged"):
        raise _bad(f"_input_kind={est._input_kind!r:.50} is not one of '2d', '3d', 'ragged'.")
    n_step = est.n_step_features_
    if not isinstance(n_step, int) or isinstance(n_step, bool) or n_step < 1:
        raise _bad(f"n_step_features_={n_step!r:.50} is not a positive integer.")
    if est._input_kind == "2d" and n_step != 1:
        raise _bad("a model fitted on 2-D input must have n_step_features_=1.")
    dtype = np.dtype(est.dtype)
    embedding = getattr(est, "embedding_dim", None) is not None
    n_inputs = est.embedding_dim if embedding else n_step
    vocab = attrs.get("vocab_size_", 0)
    if embedding and (not isinstance(vocab, int) or isinstance(vocab, bool) or vocab < 2):
        raise _bad(f"vocab_size_={vocab!r:.50} is not an integer >= 2.")
    weights = est._weights
    if not isinstance(weights, list):
        raise _bad("_weights must be a list of arrays.")
    # Parameters that imply far more weights than the file holds are refused
    # before building the reference shapes below (which would allocate them).
    layers = getattr(est, "num_layers", 1)
    nd = 2 if getattr(est, "bidirectional", False) else 1
    if not isinstance(layers, int) or layers < 1:
        raise _bad(f"num_layers={layers!r:.50} is not a positive integer.")
    held = sum(getattr(w, "size", 0) for w in weights)
    units = est.units
    implied = nd * 3 * units * (units + n_inputs) + (layers - 1) * nd * 3 * units * (
        units + nd * units
    )
    implied += vocab * n_inputs if embedding else 0
    if implied > held:
        raise _bad(f"the parameters imply {implied} weights but the file holds {held}.")
    # The shapes the model itself creates: the same calls as the fit loop.
    rng = np.random.default_rng(0)
    stack = {}
    if hasattr(est, "num_layers"):
        stack = {"num_layers": layers, "bidirectional": nd == 2}
    expected = init_params(rng, n_inputs, units, n_out, est.reset_after, dtype, **stack)
    if embedding:
        expected.insert(0, init_embedding(rng, vocab, est.embedding_dim, dtype))
    if len(weights) != len(expected):
        raise _bad(f"_weights must be a list of {len(expected)} arrays, got {len(weights)}.")
    for i, (w, e) in enumerate(zip(weights, expected)):
        if not isinstance(w, np.ndarray) or w.shape != e.shape or w.dtype != dtype:
            got = (getattr(w, "shape", None), getattr(w, "dtype", type(w).__name__))
            raise _bad(
                f"weight {i} has shape/dtype {got}, but the model's parameters give "
                f"{e.shape} {dtype}."
            )
        if not np.isfinite(w).all():
            raise _bad(f"weight {i} contains NaN or infinity.")
    state = attrs.get("_optimizer_state")
    if state is not None:
        if not isinstance(state, dict):
            raise _bad("_optimizer_state must be a dict.")
        # A frozen embedding (embedding_trainable=False) has no optimizer slots.
        frozen = embedding and not getattr(est, "embedding_trainable", True)
        slotted = weights[1:] if frozen else weights
        for slot, arrays in state.items():
            if slot in ("t", "learning_rate"):
                continue
            if not isinstance(arrays, list) or len(arrays) not in (0, len(slotted)):
                raise _bad(f"optimizer state {slot!r} must be a list of {len(slotted)} arrays.")
            for j, (a, w) in enumerate(zip(arrays, slotted)):
                if not isinstance(a, np.ndarray) or a.shape != w.shape:
                    raise _bad(
                        f"optimizer state {slot!r}[{j}] does not have the shape {w.shape} of "
                        f"weight {j}."
                    )


def load_model(path):
    """Load an estimator saved by :func:`save_model`.

    Only plain arrays (``np.load(..., allow_pickle=False)``) and JSON are
    read; nothing is unpickled, imported or executed.

    Parameters
    ----------
    path : str or path-like or binary file object
        The model file.

    Returns
    -------
    estimator : ConstrainedGRUClassifier or ConstrainedGRURegressor

    Raises
    ------
    ValueError
        If the file is not an skgru model file (a pickle, another archive),
        has a newer format version, unknown keys or members, arrays whose
        dtype or shape disagree with the manifest or with the model, or
        unknown parameters or attributes.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skgru import ConstrainedGRURegressor, load_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 4, 1))
    >>> reg = ConstrainedGRURegressor(units=3, max_iter=2, random_state=0, device="cpu")
    >>> reg = reg.fit(X, X.sum(axis=(1, 2)))
    >>> path = os.path.join(tempfile.mkdtemp(), "reg.skgru")
    >>> save_model(reg, path)
    >>> loaded = load_model(path)
    >>> type(loaded).__name__, bool(np.array_equal(loaded.predict(X), reg.predict(X)))
    ('ConstrainedGRURegressor', True)
    """
    opened = None
    if not hasattr(path, "read"):
        opened = path = open(os.fspath(path), "rb")
    try:
        head = path.read(4)
        path.seek(0)
        if head[:2] != b"PK":
            if head[:1] == b"\x80" or head[:1] in (b"(", b"c", b"]", b"}"):
                raise _bad(
                    "it looks like a pickle. load_model never unpickles, since unpickling can "
                    "run arbitrary code; re-save the model with skgru.save_model."
                )
            raise _bad("it is not a zip archive written by skgru.save_model.")
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise _bad(f"it is not a readable zip archive ({exc}).") from None
        with zf:
            document = _open_document(zf)
            arrays = _read_arrays(zf, document["arrays"])
    finally:
        if opened is not None:
            opened.close()

    name = document["estimator"]
    estimators = _estimators()
    if name not in estimators:
        raise _bad(f"unknown estimator {name!r:.80}; expected one of {sorted(estimators)}.")
    cls = estimators[name]
    dec = _Decoder(arrays)
    valid_params = set(cls().get_params(deep=False))
    unknown = sorted(set(document["params"]) - valid_params)
    if unknown:
        raise _bad(f"unknown parameters {unknown} for {name}.")
    params = {k: dec.value(v, f"parameter {k!r}") for k, v in document["params"].items()}
    attributes = {}
    for key, value in document["attributes"].items():
        if (
            not key.isidentifier()
            or key.startswith("__")
            or not (key.endswith("_") or key.startswith("_"))
            or key in valid_params
            or hasattr(cls, key)
        ):
            raise _bad(f"unknown attribute {key!r:.80} for {name}.")
        attributes[key] = dec.value(value, f"attribute {key!r}")
    unused = sorted(set(arrays) - dec.used)
    if unused:
        raise _bad(f"arrays {unused[:5]} are listed but not used by any value.")
    est = cls(**params)
    try:
        est._validate_params()
    except (TypeError, ValueError) as exc:
        raise _bad(f"invalid parameters: {exc}") from None
    est.__dict__.update(attributes)
    _check_fitted_state(est)
    return est
