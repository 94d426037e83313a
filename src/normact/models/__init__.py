"""Model architectures, created by name through a registry."""

from normact.models.lenet import PAPER_INIT, LeNet5, lenet5, paper_init
from normact.models.registry import create_model, get_model_builder, list_models, register_model

__all__ = [
    "PAPER_INIT",
    "LeNet5",
    "create_model",
    "get_model_builder",
    "lenet5",
    "list_models",
    "paper_init",
    "register_model",
]
