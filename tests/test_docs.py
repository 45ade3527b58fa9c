"""The examples in the docstrings of every public module run and give the shown output."""

import doctest
import importlib
import warnings

import pytest

# Modules whose docstrings make up the API reference.
PUBLIC_MODULES = [
    "skgru",
    "skgru.estimators._classifier",
    "skgru.estimators._regressor",
    "skgru.constraints",
    "skgru.training._constraints",
    "skgru._text",
    "skgru._recipes",
    "skgru.preprocessing",
    "skgru.preprocessing._scaling",
    "skgru.preprocessing._windows",
    "skgru.preprocessing._resampling",
    "skgru.preprocessing._convolution",
    "skgru.datasets",
    "skgru.datasets._base",
    "skgru._plotting",
    "skgru.io._persistence",
    "skgru.io._interop",
    "skgru.io._onnx",
    "skgru.testing",
    "skgru._streaming",
    "skgru.uncertainty",
    "skgru.inspection._attributions",
    "skgru.inspection._display",
    "skgru.estimators._base",
]

# A module's examples may need an optional dependency.
OPTIONAL_DEPENDENCIES = {
    "skgru._plotting": ["matplotlib"],
    "skgru.inspection._display": ["matplotlib"],
    "skgru.io._onnx": ["onnx"],
}


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    for dependency in OPTIONAL_DEPENDENCIES.get(name, []):
        pytest.importorskip(dependency)
    if name in ("skgru._plotting", "skgru.inspection._display"):
        import matplotlib

        matplotlib.use("Agg")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("skgru"):
            pytest.skip(f"{name} does not exist in this version")
        raise
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    with warnings.catch_warnings():
        # Examples train for a few epochs only; ConvergenceWarning is expected.
        warnings.simplefilter("ignore")
        result = doctest.testmod(
            module,
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            report=True,
            verbose=False,
        )
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctests failed in {name}"


def test_every_public_module_has_examples():
    """The main public modules each carry at least one runnable example."""
    for name in [
        "skgru.estimators._classifier",
        "skgru.training._constraints",
        "skgru._text",
        "skgru._recipes",
        "skgru.datasets._base",
        "skgru.preprocessing._scaling",
        "skgru.preprocessing._windows",
        "skgru.preprocessing._resampling",
        "skgru.preprocessing._convolution",
    ]:
        module = importlib.import_module(name)
        finder = doctest.DocTestFinder()
        n_examples = sum(len(t.examples) for t in finder.find(module))
        assert n_examples > 0, name


# Public names still without an Examples section; remove a name once its
# docstring has one (the test below fails while this list is stale).
KNOWN_WITHOUT_EXAMPLES = set()


def test_public_classes_and_functions_have_examples():
    import inspect

    import skgru
    import skgru.constraints
    import skgru.datasets
    import skgru.preprocessing

    missing = set()
    for module in (skgru, skgru.constraints, skgru.datasets, skgru.preprocessing):
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if "Examples\n" not in (obj.__doc__ or ""):
                missing.add(f"{module.__name__}.{name}")
    assert missing <= KNOWN_WITHOUT_EXAMPLES, sorted(missing - KNOWN_WITHOUT_EXAMPLES)
    assert KNOWN_WITHOUT_EXAMPLES <= missing, (
        f"stale entries {sorted(KNOWN_WITHOUT_EXAMPLES - missing)}: remove them"
    )
