"""Vectors: the English embedder (torch or ONNX), the multilingual lead model, their factory."""
