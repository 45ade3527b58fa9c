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
Only one unidirectional layer is mapped; other architectures raise ValueError.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["to_torch_state_dict", "from_torch_state_dict"]

_GRU_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
_HEAD_KEYS = ("fc.weight", "fc.bias")
_EMBEDDING_KEY = "embedding.weight"


def _check_mappable(estimator, target="PyTorch"):
    """Refuse what the single-layer mapping cannot express; return the weight list."""
    check_is_fitted(estimator, "_weights")
    name = type(estimator).__name__
    num_layers = getattr(estimator, "num_layers", 1)
    bidirectional = getattr(estimator, "bidirectional", False)
    if num_layers != 1 or bidirectional:
        raise ValueError(
            f"{target} export supports one unidirectional GRU layer; this {name} has "
            f"num_layers={num_layers}, bidirectional={bidirectional}."
        )
    weights = estimator.get_weights()
    n_expected = 6 if getattr(estimator, "embedding_dim", None) is not None else 5
    if len(weights) != n_expected:
        raise ValueError(
            f"{target} export expected {n_expected} weight arrays (Keras order), "
            f"{name}.get_weights() returned {len(weights)}; this architecture is not supported."
        )
    return weights


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
    estimator : fitted ConstrainedGRUClassifier
        With ``reset_after=True`` and one unidirectional GRU layer.
    as_tensors : bool, default=False
        Return ``torch.Tensor`` values (needs torch) instead of NumPy arrays.

    Returns
    -------
    state_dict : dict
        ``"embedding.weight" (vocab_size_, embedding_dim)`` when the model has
        an embedding, then ``"weight_ih_l0" (3U, F)``, ``"weight_hh_l0" (3U,
        U)``, ``"bias_ih_l0" (3U,)``, ``"bias_hh_l0" (3U,)`` (gate order r, z,
        n) and the head ``"fc.weight" (n_outputs, U)``, ``"fc.bias"
        (n_outputs,)``. The GRU keys load into ``nn.GRU(F, U,
        batch_first=True)`` and the head into ``nn.Linear(U, n_outputs)``
        (``logits = fc(h_T)``; the probabilities are the sigmoid of the
        single logit for two classes, a softmax otherwise).

    Raises
    ------
    ValueError
        For ``reset_after=False`` (``nn.GRU`` has no such form) or an
        architecture other than one unidirectional layer.
    """
    weights = _check_mappable(estimator)
    if not estimator.reset_after:
        raise ValueError(
            "torch.nn.GRU applies the reset gate after the recurrent matrix product and has "
            "no equivalent of reset_after=False; only a model fitted with reset_after=True "
            "can be exported to PyTorch."
        )
    out = {}
    if len(weights) == 6:
        out[_EMBEDDING_KEY] = weights.pop(0)
    W, R, bias, Wd, bd = weights
    U = R.shape[0]
    out["weight_ih_l0"] = np.ascontiguousarray(_swap_zr(W, U, axis=1).T)
    out["weight_hh_l0"] = np.ascontiguousarray(_swap_zr(R, U, axis=1).T)
    out["bias_ih_l0"] = _swap_zr(bias[0], U, axis=0)
    out["bias_hh_l0"] = _swap_zr(bias[1], U, axis=0)
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
    estimator : fitted ConstrainedGRUClassifier
        With ``reset_after=True``; its weights give the expected shapes.
    state_dict : mapping of str to array-like or torch.Tensor
        The keys :func:`to_torch_state_dict` returns. ``bias_ih_l0`` and
        ``bias_hh_l0`` may be absent (an ``nn.GRU(bias=False)``): they are
        then zero. Other keys (such as the ``"gru."`` prefix of a wrapping
        module) are not accepted: strip prefixes first.

    Returns
    -------
    estimator : the same estimator, with its weights replaced.
    """
    weights = _check_mappable(estimator)
    if not estimator.reset_after:
        raise ValueError(
            "Weights from torch.nn.GRU need a model with reset_after=True (nn.GRU has no "
            "equivalent of reset_after=False)."
        )
    has_embedding = len(weights) == 6
    required = list(_GRU_KEYS[:2]) + list(_HEAD_KEYS)
    if has_embedding:
        required.insert(0, _EMBEDDING_KEY)
    allowed = set(required) | set(_GRU_KEYS)
    missing = [k for k in required if k not in state_dict]
    unexpected = sorted(set(state_dict) - allowed)
    if missing or unexpected:
        raise ValueError(
            f"state_dict does not match the model: missing keys {missing}, unexpected keys "
            f"{unexpected}."
        )
    sd = {k: _to_numpy(v, k) for k, v in state_dict.items()}
    W, R, bias, Wd, bd = weights[-5:]
    U = R.shape[0]
    expected = {
        "weight_ih_l0": (3 * U, W.shape[0]),
        "weight_hh_l0": (3 * U, U),
        "bias_ih_l0": (3 * U,),
        "bias_hh_l0": (3 * U,),
        "fc.weight": Wd.T.shape,
        "fc.bias": bd.shape,
    }
    if has_embedding:
        expected[_EMBEDDING_KEY] = weights[0].shape
    for key, value in sd.items():
        if value.shape != expected[key]:
            raise ValueError(
                f"state_dict[{key!r}] has shape {value.shape}, but the model expects "
                f"{expected[key]}."
            )
    zeros = np.zeros(3 * U)
    new_bias = np.stack(
        [
            _swap_zr(sd.get("bias_ih_l0", zeros), U, axis=0),
            _swap_zr(sd.get("bias_hh_l0", zeros), U, axis=0),
        ]
    )
    new = [
        _swap_zr(sd["weight_ih_l0"].T, U, axis=1),
        _swap_zr(sd["weight_hh_l0"].T, U, axis=1),
        new_bias,
        sd["fc.weight"].T,
        sd["fc.bias"],
    ]
    if has_embedding:
        new.insert(0, sd[_EMBEDDING_KEY])
    # set_weights casts to the model dtype and refuses non-finite values.
    return estimator.set_weights(new)
