"""Moving fitted models in and out: skgru's own file format, PyTorch names, ONNX.

The public functions are :func:`skgru.save_model`, :func:`skgru.load_model`
and :func:`skgru.to_onnx`; this package imports nothing itself, so the
estimators can use its name mapping (``_interop``) without a cycle.
"""
