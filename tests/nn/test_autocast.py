"""Under autocast (bf16 on the CPU) the layers keep float32 statistics and float32, finite running buffers."""

import pytest
import torch

from normact.nn import DSELU, SSELU, NReLU, NSwish
from normact.probes.stats import sum_of_squares

AUTOCAST = {"device_type": "cpu", "dtype": torch.bfloat16}


def _bf16_input(*shape):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(*shape, generator=g) * 2 + 0.5).bfloat16()


@pytest.mark.parametrize("cls", [NReLU, NSwish])
def test_normalized_statistics_ignore_autocast(cls):
    x = _bf16_input(64, 300)
    plain, autocast = cls().train(), cls().train()
    y_plain = plain(x)
    with torch.autocast(**AUTOCAST):
        y = autocast(x)
    assert y.dtype == torch.bfloat16 and torch.equal(y, y_plain)
    for key, value in autocast.state_dict().items():
        assert value.dtype == plain.state_dict()[key].dtype and torch.equal(value, plain.state_dict()[key]), (
            key
        )
        assert torch.isfinite(value).all()
    assert autocast.running_rho.dtype == torch.float32


def test_normalized_statistics_of_a_bf16_input_match_float64():
    """ReLU is exact in bf16, so its statistics of a bf16 input are float64's to float32 accumulation."""
    x = _bf16_input(64, 300)
    layer, reference = NReLU().train(), NReLU().double().train()
    with torch.autocast(**AUTOCAST):
        layer(x)
    reference(x.double())
    for key in ("running_mean", "running_rho", "running_rho_prime"):
        torch.testing.assert_close(getattr(layer, key).double(), getattr(reference, key), rtol=1e-5, atol=0)


@pytest.mark.parametrize(
    "layer", [DSELU(), SSELU(1.05, 1.6, 1.2, trainable_lambda=True)], ids=["dselu", "sselu"]
)
def test_selu_family_under_autocast_is_its_bf16_self(layer):
    x = _bf16_input(16, 40).requires_grad_()
    expected = layer(x)
    with torch.autocast(**AUTOCAST):
        y = layer(x)
    assert y.dtype == torch.bfloat16 and torch.equal(y, expected) and torch.isfinite(y).all()
    y.float().sum().backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in layer.parameters())


def test_probe_sums_ignore_autocast():
    x = torch.randn(40 * 2048, generator=torch.Generator().manual_seed(1))
    with torch.autocast(**AUTOCAST):
        inside = sum_of_squares(x)
    assert inside.dtype == torch.float64 and torch.equal(inside, sum_of_squares(x))
