"""The torch activations are the theory engine's functions: f and f' agree on a grid for every shared name."""

import numpy as np
import pytest
import torch

from normact import theory
from normact.functional import elementwise, elementwise_names, theory_activation

SHARED = sorted(set(elementwise_names()) & set(theory.list_activations()))
PARAMS = {
    "leaky_relu": {"negative_slope": 0.2},
    "elu": {"alpha": 0.7},
    "dselu": {"lam": 1.3, "alpha": 0.6},
    "sselu": {"lam": 1.1, "alpha": 2.0, "beta": 0.7},
    "lselu": {"lam": 1.2, "alpha": 1.5, "beta": 0.3},
    "swish": {"beta": 1.7},
}
GRID = np.concatenate([np.linspace(-8, 8, 1601), [-1e-3, 1e-3, 25.0]])


def test_the_registries_share_every_theory_name():
    assert SHARED == theory.list_activations()


@pytest.mark.parametrize("name", SHARED)
@pytest.mark.parametrize("with_params", [False, True])
def test_function_and_derivative_agree(name, with_params):
    act = elementwise(name, **(PARAMS.get(name, {}) if with_params else {}))
    ref = theory_activation(act)
    assert ref.name == name
    x = torch.from_numpy(GRID)
    np.testing.assert_allclose(act(x).numpy(), ref.f(GRID), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(act.derivative(x).numpy(), ref.df(GRID), rtol=1e-10, atol=1e-12)


def test_torch_only_parameters_are_refused():
    with pytest.raises(ValueError, match="no gelu with approximate='tanh'"):
        theory_activation(elementwise("gelu", approximate="tanh"))
