import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import normact
from normact import registry
from normact.nn import DSELU, NormalizedActivation, NReLU

_ROOT = Path(__file__).resolve().parents[1]
THEORY_NAMES = [
    "identity", "relu", "leaky_relu", "elu", "selu", "dselu", "sselu", "lselu", "tanh", "lecun_tanh",
    "softsign", "sigmoid", "swish", "silu", "gelu", "softplus", "mish",
]  # fmt: skip
EXTRA = ["nrelu", "nswish", "nlrelu", "normalized", "relu_gpn", "lrelu_gpn", "gpn", "crelu"]


def test_every_agreed_name_is_registered():
    assert sorted(THEORY_NAMES + EXTRA) == registry.list_acts()


@pytest.mark.parametrize("name", registry.list_acts())
def test_every_layer_has_a_derivative(name):
    act = registry.create_act(name).double()
    x = (torch.randn(4, 3, 5, dtype=torch.float64) * 2).requires_grad_()
    act.eval()
    act(x)  # a batch-mode normalized activation then uses its initial statistics
    (grad,) = torch.autograd.grad(act(x).sum(), x)
    d = act.derivative(x.detach())
    if name == "crelu":
        d = d[:, :3] + d[:, 3:]  # each input feeds two outputs
    torch.testing.assert_close(d, grad)


def test_lookup_conventions():
    assert registry.get_act_layer(None) is None and registry.get_act_layer("") is None
    assert registry.create_act(None) is None
    assert registry.get_act_layer("NReLU") is NReLU
    assert registry.get_act_layer(nn.GELU) is nn.GELU
    factory = functools.partial(NReLU, momentum=0.05)
    assert registry.get_act_layer(factory) is factory
    assert registry.create_act(factory).momentum == 0.05
    assert registry.create_act("normalized", base="gelu").base.name == "gelu"
    assert registry.create_act("leaky_relu", negative_slope=0.3).negative_slope == 0.3


def test_errors_name_the_choices():
    with pytest.raises(
        ValueError, match=r"unknown activation 'seluu'; choose from \[.*'selu'.*\] or pass an nn.Module class"
    ):
        registry.create_act("seluu")
    with pytest.raises(TypeError, match="module instance"):
        registry.get_act_layer(nn.ReLU())
    with pytest.raises(TypeError, match="act_layer must be"):
        registry.get_act_layer(3)


def test_register():
    registry.register_act("test_hardtanh", nn.Hardtanh)
    try:
        assert isinstance(registry.create_act("test_hardtanh"), nn.Hardtanh)
        with pytest.raises(ValueError, match="already registered"):
            registry.register_act("relu", nn.ReLU)
    finally:
        registry._ACTS.pop("test_hardtanh")


def test_selu_family_defaults_without_eps():
    assert isinstance(registry.create_act("dselu"), DSELU)
    assert isinstance(registry.create_act("normalized"), NormalizedActivation)


def test_top_level_exports_and_a_torch_free_theory():
    assert normact.create_act is registry.create_act and callable(normact.convert_activations)
    assert normact.NReLU is NReLU and normact.SSELU is normact.nn.SSELU and normact.gain is normact.init.gain
    for name in normact.__all__:
        assert getattr(normact, name) is not None and name in dir(normact)
    assert set(normact.nn.__all__) - {"ORDERS", "nwdbn_param_groups"} <= set(normact.__all__)
    code = "import sys, normact.theory; assert 'torch' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(_ROOT / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
