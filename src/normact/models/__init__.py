"""Model architectures, created by name through a registry."""

from normact.models.registry import create_model, get_model_builder, list_models, register_model

__all__ = ["create_model", "get_model_builder", "list_models", "register_model"]
