"""LossCurveDisplay: the Display API (from_estimator, plot, artists)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skgru import ConstrainedGRUClassifier, LossCurveDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _data(n=40, T=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, 1))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


def _fit(**params):
    X, y = _data()
    clf = ConstrainedGRUClassifier(units=3, max_iter=4, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y)


def test_from_estimator_loss_only():
    clf = _fit()
    display = LossCurveDisplay.from_estimator(clf)
    assert display.validation_line_ is None
    assert display.ax_validation_ is None
    np.testing.assert_array_equal(display.line_.get_xdata(), np.arange(1, clf.n_iter_ + 1))
    np.testing.assert_allclose(display.line_.get_ydata(), clf.loss_curve_)
    assert display.figure_ is display.ax_.figure
    assert display.ax_.get_xlabel() == "Epoch"
    assert display.ax_.get_ylabel() == "Training loss"


def test_from_estimator_with_validation_twin_axis():
    X, y = _data()
    clf = _fit()
    clf.set_params(max_iter=3, n_iter_no_change=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y, validation_data=(X, y))
    display = LossCurveDisplay.from_estimator(clf, name="GRU")
    assert display.validation_line_ is not None
    np.testing.assert_allclose(display.validation_line_.get_ydata(), clf.validation_scores_)
    assert display.ax_validation_ is not display.ax_
    assert display.ax_validation_.figure is display.figure_
    assert display.line_.get_label() == "GRU: training loss"
    assert display.validation_line_.get_label() == "GRU: validation score"
    legend_texts = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert legend_texts == ["GRU: training loss", "GRU: validation score"]


def test_show_validation_false():
    clf = _fit(early_stopping=True, validation_fraction=0.25)
    display = LossCurveDisplay.from_estimator(clf, show_validation=False)
    assert display.validation_line_ is None


def test_plot_on_given_ax_and_kwargs():
    clf = _fit()
    fig, ax = plt.subplots()
    display = LossCurveDisplay.from_estimator(
        clf, ax=ax, loss_kwargs={"color": "red", "label": "mine"}
    )
    assert display.ax_ is ax
    assert display.figure_ is fig
    assert display.line_.get_color() == "red"
    assert display.line_.get_label() == "mine"


def test_constructor_and_replot():
    display = LossCurveDisplay(loss_curve=[1.0, 0.5, 0.25], validation_scores=[0.5, 0.6, 0.7])
    display.plot()
    first_ax = display.ax_
    _, ax = plt.subplots()
    display.plot(ax=ax, name="again")
    assert display.ax_ is ax is not first_ax
    assert display.line_.get_label() == "again: training loss"
    np.testing.assert_allclose(display.validation_line_.get_ydata(), [0.5, 0.6, 0.7])


def test_unfitted_estimator_raises():
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(ConstrainedGRUClassifier())


def test_works_with_mlpclassifier():
    from sklearn.neural_network import MLPClassifier

    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
        mlp.fit(X[:, :, 0], y)
    display = LossCurveDisplay.from_estimator(mlp)
    assert len(display.line_.get_ydata()) == mlp.n_iter_
    assert display.validation_line_ is None


def test_missing_matplotlib_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="requires matplotlib"):
        LossCurveDisplay(loss_curve=[1.0]).plot()
