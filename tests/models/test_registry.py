import pytest
from torch import nn

from normact.models import create_model, get_model_builder, list_models, register_model


@register_model("test_registry_linear")
def _linear(num_classes: int = 2, input_shape: tuple[int, ...] = (3,), bias: bool = True) -> nn.Module:
    return nn.Linear(input_shape[0], num_classes, bias=bias)


def test_create_passes_kwargs():
    model = create_model("test_registry_linear", num_classes=5, input_shape=(7,), bias=False)
    assert isinstance(model, nn.Linear)
    assert (model.in_features, model.out_features, model.bias) == (7, 5, None)
    assert "test_registry_linear" in list_models()
    assert list_models() == sorted(list_models())
    assert get_model_builder("test_registry_linear") is _linear


def test_unknown_name_lists_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown model 'test_registry_linaer'; choose from \[.*'test_registry_linear'"
    ):
        create_model("test_registry_linaer")


def test_duplicate_name_rejected_but_reregistering_same_builder_is_fine():
    register_model("test_registry_linear")(_linear)
    with pytest.raises(ValueError, match="already registered"):
        register_model("test_registry_linear")(lambda **kw: nn.Identity())
    with pytest.raises(ValueError, match="non-empty string"):
        register_model("")
