"""A scikit-learn style Display of attributions over one sequence."""

import numpy as np

from .._plotting import _check_matplotlib
from ._attributions import integrated_gradients, saliency

__all__ = ["AttributionDisplay"]


class AttributionDisplay:
    """Attributions of one sequence, drawn over its steps.

    Numeric sequences: the values of each channel as lines (top), and the
    attributions as a heatmap of channels by steps (bottom, a diverging
    colormap centred on 0). Token sequences: one bar per token, labelled with
    the token when ``tokens`` are given. Prefer :meth:`from_estimator`.
    Requires matplotlib.

    Parameters
    ----------
    attributions : array-like of shape (n_timesteps, n_features) or (n_timesteps,)
        The attributions of one sequence (a 1-D array: one channel, or
        tokens).
    values : array-like of shape (n_timesteps, n_features) or (n_timesteps,), \
            default=None
        The sequence itself, drawn above the heatmap (numeric input).
    tokens : list of str or None, default=None
        Token strings, one per step (text input).
    title : str or None, default=None
        Axes title.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The attribution axes (heatmap or bars).
    ax_values_ : matplotlib Axes or None
        The axes of the values, when drawn.
    image_ : matplotlib AxesImage or None
        The heatmap (numeric input).
    bars_ : matplotlib BarContainer or None
        The bars (token input).
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.inspection import AttributionDisplay
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 6, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = ConstrainedGRUClassifier(units=4, max_iter=5, random_state=0).fit(X, y)
    >>> display = AttributionDisplay.from_estimator(clf, X[0])
    >>> display.image_.get_array().shape
    (2, 6)
    """

    def __init__(self, attributions, values=None, *, tokens=None, title=None):
        self.attributions = np.asarray(attributions, dtype=np.float64)
        self.values = None if values is None else np.asarray(values, dtype=np.float64)
        self.tokens = tokens
        self.title = title

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        method="integrated_gradients",
        target=None,
        tokens=None,
        ax=None,
        **kwargs,
    ):
        """Compute the attributions of one sequence and plot them.

        Parameters
        ----------
        estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
        X : array-like
            One sequence: ``(n_timesteps, n_features)``, ``(n_timesteps,)``
            for a univariate model, or a 1-D array of token ids.
        method : {"integrated_gradients", "saliency"}, default="integrated_gradients"
        target : label, int or None, default=None
            See :func:`~skgru.inspection.saliency`.
        tokens : list of str or None, default=None
            Labels of the steps (e.g. ``vectorizer.inverse_transform`` of the
            ids, with padding removed); token ids that are padding (0) are
            left out of the plot.
        ax : matplotlib Axes or None, default=None
        **kwargs
            Passed to the attribution function (``baseline``, ``n_steps``,
            ``output``).

        Returns
        -------
        display : AttributionDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        if method not in ("integrated_gradients", "saliency"):
            raise ValueError(
                f"method must be 'integrated_gradients' or 'saliency', got {method!r}."
            )
        x = np.asarray(X)
        token_input = estimator.embedding_dim is not None
        if token_input:
            batch = [x[x != 0]]
        elif x.ndim == 1:
            batch = x[None, :, None]
        else:
            batch = x[None]
        fn = integrated_gradients if method == "integrated_gradients" else saliency
        result = fn(estimator, batch, target=target, **kwargs)
        attributions = result.attributions[0]
        label = result.target[0]
        title = f"{method.replace('_', ' ')}, target {label!r}"
        display = cls(
            attributions,
            None if token_input else (x if x.ndim == 2 else x[:, None]),
            tokens=tokens,
            title=title,
        )
        return display.plot(ax=ax)

    def plot(self, ax=None, *, cmap="RdBu_r"):
        """Draw the attributions.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Axes for the attributions; with values to draw, the axes is
            split (values above). ``None`` makes a new figure.
        cmap : str, default="RdBu_r"
            Diverging colormap of the heatmap and bars.

        Returns
        -------
        display : AttributionDisplay
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        A = self.attributions
        if A.ndim == 1 and self.values is None:
            return self._plot_tokens(ax, cmap)
        if A.ndim == 1:
            A = A[:, None]
        if ax is None:
            n_rows = 2 if self.values is not None else 1
            fig, axes = plt.subplots(
                n_rows, 1, sharex=True, figsize=(7, 4), squeeze=False, constrained_layout=True
            )
            axes = axes[:, 0]
        else:
            fig = ax.figure
            axes = [ax]
            if self.values is not None:
                from mpl_toolkits.axes_grid1 import make_axes_locatable

                top = make_axes_locatable(ax).append_axes("top", size="80%", pad=0.1, sharex=ax)
                axes = [top, ax]
        self.ax_values_ = None
        if self.values is not None:
            self.ax_values_ = axes[0]
            steps = np.arange(len(self.values))
            for f in range(self.values.shape[1]):
                self.ax_values_.plot(steps, self.values[:, f], lw=1, label=f"channel {f}")
            self.ax_values_.set_ylabel("value")
            if self.values.shape[1] > 1:
                self.ax_values_.legend(loc="upper right", fontsize="small")
            if self.title:
                self.ax_values_.set_title(self.title)
        self.ax_ = axes[-1]
        limit = float(np.abs(A).max()) or 1.0
        self.image_ = self.ax_.imshow(
            A.T,
            aspect="auto",
            cmap=cmap,
            vmin=-limit,
            vmax=limit,
            interpolation="nearest",
            extent=(-0.5, A.shape[0] - 0.5, A.shape[1] - 0.5, -0.5),
        )
        self.ax_.set_xlabel("step")
        self.ax_.set_ylabel("channel")
        if self.values is None and self.title:
            self.ax_.set_title(self.title)
        fig.colorbar(self.image_, ax=self.ax_, label="attribution")
        self.bars_ = None
        self.figure_ = fig
        return self

    def _plot_tokens(self, ax, cmap):
        import matplotlib.pyplot as plt

        A = self.attributions
        if ax is None:
            fig, ax = plt.subplots(figsize=(max(4, 0.4 * len(A)), 3), constrained_layout=True)
        limit = float(np.abs(A).max()) or 1.0
        colors = plt.get_cmap(cmap)(0.5 + 0.5 * A / limit)
        self.bars_ = ax.bar(np.arange(len(A)), A, color=colors)
        if self.tokens is not None:
            if len(self.tokens) != len(A):
                raise ValueError(f"{len(self.tokens)} tokens given for {len(A)} steps.")
            ax.set_xticks(np.arange(len(A)), list(self.tokens), rotation=60, ha="right")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_ylabel("attribution")
        if self.title:
            ax.set_title(self.title)
        self.ax_, self.ax_values_, self.image_ = ax, None, None
        self.figure_ = ax.figure
        return self
