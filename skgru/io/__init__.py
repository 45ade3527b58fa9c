"""Moving fitted models in and out: skgru's own file format, PyTorch names, ONNX."""

from ._onnx import to_onnx
from ._persistence import load_model, save_model

__all__ = ["load_model", "save_model", "to_onnx"]
