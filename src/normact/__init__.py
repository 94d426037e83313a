"""normact: normalized and self-normalizing activations for PyTorch."""

__version__ = "0.1.0"
