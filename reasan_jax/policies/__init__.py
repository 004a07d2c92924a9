"""Policies as values: trained checkpoints and REASAN ONNX files as pure JAX functions, usable in
evaluation and as frozen low-level controllers inside an env step."""
