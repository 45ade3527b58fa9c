"""Moving weights between skgru and PyTorch (``torch.nn.GRU`` + ``nn.Linear`` head).

Our weights are kept in Keras order and layout (``kernel (F, 3U)``,
``recurrent_kernel (U, 3U)``, gate blocks ``[z | r | h]``). PyTorch stores
``weight_ih_l0 (3U, F)`` and ``weight_hh_l0 (3U, U)`` with row blocks in the
order ``r, z, n`` and two bias vectors of ``3U``. The mapping is the one Keras
itself uses (``prepare_gru_params`` in ``keras/src/backend/torch/rnn.py``;
``docs/gru_equations.rst``, "Mapping to PyTorch"): transpose, and swap the
first two gate blocks.

Only ``reset_after=True`` has a PyTorch form: ``nn.GRU`` applies the reset gate
after the recurrent product, and there is no switch for the other variant.
Stacked and bidirectional models map to ``nn.GRU(num_layers=L,
bidirectional=True)``: layer ``l``'s forward direction under ``*_l{l}``, its
backward direction under ``*_l{l}_reverse``; a layer above the first reads
the two directions concatenated, forward first, as ours does.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..model._network import split_params

__all__ = ["to_torch_state_dict", "from_torch_state_dict"]

_HEAD_KEYS = ("fc.weight", "fc.bias")
_EMBEDDING_KEY = "embedding.weight"


def _layout(estimator):
    """``(E or None, blocks, Wd, bd)`` of a fitted estimator's weights (Keras order)."""
    check_is_fitted(estimator, "_weights")
    weights = estimator.get_weights()
    embedding = getattr(estimator, "embedding_dim", None) is not None
    num_layers = getattr(estimator, "num_layers", 1)
    bidirectional = getattr(estimator, "bidirectional", False)
    nd = 2 if bidirectional else 1
    n_expected = int(embedding) + 3 * num_layers * nd + 2
    if len(weights) != n_expected:
        raise ValueError(
            f"Export expected {n_expected} weight arrays (Keras order), "
            f"{type(estimator).__name__}.get_weights() returned {len(weights)}."
        )
    return split_params(weights, embedding, num_layers, bidirectional)


def _gru_keys(num_layers, nd):
    """The ``nn.GRU`` keys of every layer and direction, ``[(l, d, (w_ih, w_hh, b_ih, b_hh))]``."""
    out = []
    for l in range(num_layers):
        for d in range(nd):
            suffix = f"_l{l}" + ("_reverse" if d == 1 else "")
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            out.append((l, d, tuple(n + suffix for n in names)))
    return out


def _swap_zr(a, U, axis):
    """Swap the first two ``U``-wide gate blocks along ``axis`` ([z|r|h] <-> [r|z|n])."""
    z, r, h = np.split(a, [U, 2 * U], axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def _to_numpy(value, key):
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"state_dict[{key!r}] has dtype {a.dtype}; numeric values are required.")
    return a


def to_torch_state_dict(estimator, *, as_tensors=False):
    """Weights of a fitted estimator under ``torch.nn.GRU`` / ``nn.Linear`` names.

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
        With ``reset_after=True``; any ``num_layers`` and ``bidirectional``.
    as_tensors : bool, default=False
        Return ``torch.Tensor`` values (needs torch) instead of NumPy arrays.

    Returns
    -------
    state_dict : dict
        ``"embedding.weight" (vocab_size_, embedding_dim)`` when the model has
        an embedding; for each layer ``l`` (and ``_reverse`` for the backward
        direction) ``"weight_ih_l{l}" (3U, F_l)``, ``"weight_hh_l{l}" (3U,
        U)``, ``"bias_ih_l{l}" (3U,)``, ``"bias_hh_l{l}" (3U,)`` (gate order
        r, z, n); the head ``"fc.weight" (n_outputs, nd * U)``, ``"fc.bias"
        (n_outputs,)``. The GRU keys load into ``nn.GRU(F, U,
        num_layers=num_layers, bidirectional=bidirectional,
        batch_first=True)`` and the head into ``nn.Linear(nd * U,
        n_outputs)``, applied to the pooled output: with ``pooling="last"``
        the final states of the top layer (``h_n[-1]``, or
        ``cat([h_n[-2], h_n[-1]])`` when bidirectional, from a packed
        sequence), otherwise the mean or maximum of the top layer's outputs
        over the valid steps. The probabilities are the sigmoid of the single
        logit for two classes, a softmax otherwise.

    Raises
    ------
    ValueError
        For ``reset_after=False`` (``nn.GRU`` has no such form).
    """
    E, blocks, Wd, bd = _layout(estimator)
    if not estimator.reset_after:
        raise ValueError(
            "torch.nn.GRU applies the reset gate after the recurrent matrix product and has "
            "no equivalent of reset_after=False; only a model fitted with reset_after=True "
            "can be exported to PyTorch."
        )
    out = {}
    if E is not None:
        out[_EMBEDDING_KEY] = E
    for l, d, (w_ih, w_hh, b_ih, b_hh) in _gru_keys(len(blocks), len(blocks[0])):
        W, R, bias = blocks[l][d]
        U = R.shape[0]
        out[w_ih] = np.ascontiguousarray(_swap_zr(W, U, axis=1).T)
        out[w_hh] = np.ascontiguousarray(_swap_zr(R, U, axis=1).T)
        out[b_ih] = _swap_zr(bias[0], U, axis=0)
        out[b_hh] = _swap_zr(bias[1], U, axis=0)
    out["fc.weight"] = np.ascontiguousarray(Wd.T)
    out["fc.bias"] = bd.copy()
    if as_tensors:
        try:
            import torch
        except ImportError as exc:
            raise ImportError(
                "to_torch_state_dict(as_tensors=True) needs PyTorch; install torch or use "
                "as_tensors=False for NumPy arrays."
            ) from exc
        out = {k: torch.from_numpy(v) for k, v in out.items()}
    return out


def from_torch_state_dict(estimator, state_dict):
    """Set a fitted estimator's weights from a PyTorch-named state dict.

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
        With ``reset_after=True``; its weights give the expected keys and
        shapes (its ``num_layers`` and ``bidirectional`` must be those of the
        ``nn.GRU``).
    state_dict : mapping of str to array-like or torch.Tensor
        The keys :func:`to_torch_state_dict` returns. The ``bias_ih_*`` and
        ``bias_hh_*`` keys may be absent (an ``nn.GRU(bias=False)``): those
        biases are then zero. Other keys (such as the ``"gru."`` prefix of a
        wrapping module) are not accepted: strip prefixes first.

    Returns
    -------
    estimator : the same estimator, with its weights replaced.
    """
    E, blocks, Wd, bd = _layout(estimator)
    if not estimator.reset_after:
        raise ValueError(
            "Weights from torch.nn.GRU need a model with reset_after=True (nn.GRU has no "
            "equivalent of reset_after=False)."
        )
    keys = _gru_keys(len(blocks), len(blocks[0]))
    required = [k for _, _, names in keys for k in names[:2]] + list(_HEAD_KEYS)
    if E is not None:
        required.insert(0, _EMBEDDING_KEY)
    allowed = set(required) | {k for _, _, names in keys for k in names}
    missing = [k for k in required if k not in state_dict]
    unexpected = sorted(set(state_dict) - allowed)
    if missing or unexpected:
        raise ValueError(
            f"state_dict does not match the model: missing keys {missing}, unexpected keys "
            f"{unexpected}."
        )
    sd = {k: _to_numpy(v, k) for k, v in state_dict.items()}
    expected = {"fc.weight": Wd.T.shape, "fc.bias": bd.shape}
    if E is not None:
        expected[_EMBEDDING_KEY] = E.shape
    for l, d, (w_ih, w_hh, b_ih, b_hh) in keys:
        W, R, _ = blocks[l][d]
        U = R.shape[0]
        expected.update(
            {w_ih: (3 * U, W.shape[0]), w_hh: (3 * U, U), b_ih: (3 * U,), b_hh: (3 * U,)}
        )
    for key, value in sd.items():
        if value.shape != expected[key]:
            raise ValueError(
                f"state_dict[{key!r}] has shape {value.shape}, but the model expects "
                f"{expected[key]}."
            )
    new = [sd[_EMBEDDING_KEY]] if E is not None else []
    for l, d, (w_ih, w_hh, b_ih, b_hh) in keys:
        U = blocks[l][d][1].shape[0]
        zeros = np.zeros(3 * U)
        new += [
            _swap_zr(sd[w_ih].T, U, axis=1),
            _swap_zr(sd[w_hh].T, U, axis=1),
            np.stack(
                [_swap_zr(sd.get(b_ih, zeros), U, axis=0), _swap_zr(sd.get(b_hh, zeros), U, axis=0)]
            ),
        ]
    new += [sd["fc.weight"].T, sd["fc.bias"]]
    # set_weights casts to the model dtype and refuses non-finite values.
    return estimator.set_weights(new)
