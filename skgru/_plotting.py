"""Plotting helpers following scikit-learn's Display API.

matplotlib is an optional dependency: it is imported only inside the methods
that draw, so ``import skgru`` never needs it.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["LossCurveDisplay"]


def _check_matplotlib(caller):
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            f"{caller} requires matplotlib. You can install it with "
            "`pip install matplotlib` (or `pip install skgru[docs]`)."
        ) from exc


class LossCurveDisplay:
    """Training loss curve (and validation scores) of a fitted GRU estimator.

    The training loss per epoch (``loss_curve_``) is drawn on the left axis.
    When the estimator recorded validation scores (``validation_scores_``,
    from ``early_stopping=True`` or ``validation_data=``), they are drawn on a
    second y axis sharing the epoch axis.

    Prefer :meth:`from_estimator` to build one; the constructor only stores
    the curves. All drawing happens in :meth:`plot`. Requires matplotlib.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss per epoch.
    validation_scores : array-like of shape (n_epochs,) or None, default=None
        Validation accuracy per epoch, or ``None`` when there is none.
    estimator_name : str or None, default=None
        Name used in the legend labels; ``None`` gives plain labels.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The training loss line.
    validation_line_ : matplotlib Line2D or None
        The validation score line, ``None`` without validation scores.
    ax_ : matplotlib Axes
        Axes holding the loss curve.
    ax_validation_ : matplotlib Axes or None
        Twin axes (right y axis) holding the validation scores, or ``None``.
    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against the number
        of training samples.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skgru import ConstrainedGRUClassifier, LossCurveDisplay
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 6, 1))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = ConstrainedGRUClassifier(units=4, max_iter=5, early_stopping=True,
    ...                                validation_fraction=0.25, random_state=0)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     clf = clf.fit(X, y)
    >>> display = LossCurveDisplay.from_estimator(clf)
    >>> len(display.line_.get_xdata()) == len(clf.loss_curve_)
    True
    >>> display.validation_line_ is not None
    True
    """

    def __init__(self, *, loss_curve, validation_scores=None, estimator_name=None):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name

    def plot(
        self,
        ax=None,
        *,
        name=None,
        show_validation=True,
        loss_kwargs=None,
        validation_kwargs=None,
    ):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a new figure and axes.
        name : str or None, default=None
            Name for the legend labels; overrides ``estimator_name``.
        show_validation : bool, default=True
            Draw the validation scores on a twin y axis when there are any.
        loss_kwargs : dict, default=None
            Keyword arguments passed to ``ax.plot`` for the loss line.
        validation_kwargs : dict, default=None
            Keyword arguments passed to ``plot`` for the validation line.

        Returns
        -------
        display : LossCurveDisplay
            Object that stores the computed values and the matplotlib artists.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        name = self.estimator_name if name is None else name
        prefix = f"{name}: " if name else ""

        loss = np.asarray(self.loss_curve, dtype=float)
        epochs = np.arange(1, len(loss) + 1)
        kwargs = {"label": f"{prefix}training loss", "color": "C0"}
        kwargs.update(loss_kwargs or {})
        (self.line_,) = ax.plot(epochs, loss, **kwargs)
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Training loss")
        handles = [self.line_]

        self.validation_line_ = None
        self.ax_validation_ = None
        if show_validation and self.validation_scores is not None:
            scores = np.asarray(self.validation_scores, dtype=float)
            ax_val = ax.twinx()
            kwargs = {"label": f"{prefix}validation score", "color": "C1", "linestyle": "--"}
            kwargs.update(validation_kwargs or {})
            (self.validation_line_,) = ax_val.plot(np.arange(1, len(scores) + 1), scores, **kwargs)
            ax_val.set_ylabel("Validation score (accuracy)")
            self.ax_validation_ = ax_val
            handles.append(self.validation_line_)

        ax.legend(handles=handles, loc="best")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        *,
        ax=None,
        name=None,
        show_validation=True,
        loss_kwargs=None,
        validation_kwargs=None,
    ):
        """Plot the loss curve and validation scores of a fitted estimator.

        Parameters
        ----------
        estimator : fitted estimator
            An estimator with a ``loss_curve_`` attribute, such as a fitted
            :class:`~skgru.ConstrainedGRUClassifier` (or
            :class:`~sklearn.neural_network.MLPClassifier`). Its
            ``validation_scores_``, when not ``None``, are drawn too.
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a new figure and axes.
        name : str or None, default=None
            Name for the legend labels; ``None`` uses no name.
        show_validation : bool, default=True
            Draw the validation scores on a twin y axis when there are any.
        loss_kwargs : dict, default=None
            Keyword arguments passed to ``ax.plot`` for the loss line.
        validation_kwargs : dict, default=None
            Keyword arguments passed to ``plot`` for the validation line.

        Returns
        -------
        display : LossCurveDisplay
            Object that stores the computed values and the matplotlib artists.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator, "loss_curve_")
        display = cls(
            loss_curve=list(estimator.loss_curve_),
            validation_scores=(
                None
                if getattr(estimator, "validation_scores_", None) is None
                else list(estimator.validation_scores_)
            ),
            estimator_name=name,
        )
        return display.plot(
            ax=ax,
            show_validation=show_validation,
            loss_kwargs=loss_kwargs,
            validation_kwargs=validation_kwargs,
        )
