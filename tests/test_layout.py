"""The package's import graph: no module imports itself through others; layers go one way."""

import ast
import pathlib

import skgru

ROOT = pathlib.Path(skgru.__file__).parent


def _module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports():
    """``{module: {skgru modules it imports, anywhere in its code}}``.

    ``from a.b import c`` counts as importing ``a.b`` and, when ``a.b.c`` is a
    module, ``a.b.c``; importing a module first runs its packages' ``__init__``
    (except the importer's own packages, which are already being imported).
    """
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        own = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module
                found = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                continue
            for target in found:
                if target.split(".")[0] != "skgru":
                    continue
                parts = target.split(".")
                for k in range(1, len(parts) + 1):
                    candidate = ".".join(parts[:k])
                    if candidate in modules and candidate != name and candidate not in own:
                        targets.add(candidate)
        graph[name] = targets
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert _cycles(_imports()) == []


def test_layers_import_one_way():
    """Kernels know nothing of the engine or the estimators; the engine nothing of estimators."""
    below = {
        "skgru.kernels": ("skgru.engine", "skgru.estimators", "skgru.training", "skgru.io"),
        "skgru.engine": ("skgru.estimators", "skgru.io"),
        "skgru.training": ("skgru.engine", "skgru.estimators", "skgru.io"),
        "skgru.model": ("skgru.engine", "skgru.estimators", "skgru.kernels", "skgru.training"),
        "skgru.data": ("skgru.engine", "skgru.estimators", "skgru.kernels", "skgru.model"),
    }
    for module, targets in _imports().items():
        for layer, forbidden in below.items():
            if module == layer or module.startswith(layer + "."):
                bad = [t for t in targets if t.startswith(forbidden)]
                assert not bad, f"{module} imports {bad}"
