import numpy as np
import pytest
import scipy.stats
import torch

from normact.probes.stats import RunningMoments, Series, skewness_from_moments, sum_of_squares, to_host

from .batches import SIZES, split


def one_shot(x: torch.Tensor, channel_dim: int | None) -> dict[str, np.ndarray]:
    """Central moments of the whole set at once, in numpy float64."""
    a = x.double().numpy()
    if channel_dim is None:
        a = a.reshape(-1, 1)
    else:
        a = np.moveaxis(a, channel_dim, -1).reshape(-1, a.shape[channel_dim])
    d = a - a.mean(0)
    out = {"mean": a.mean(0), "m2": (d**2).sum(0), "m3": (d**3).sum(0)}
    return {k: v[0] if channel_dim is None else v for k, v in out.items()}


@pytest.mark.parametrize("channel_dim", [None, 1, -1])
def test_streaming_equals_one_shot(channel_dim: int | None) -> None:
    x = torch.distributions.Exponential(2.0).sample((200, 5, 3, 4)) + 10.0  # large mean, real skew
    m = RunningMoments()
    for part in split(x, SIZES):
        m.update(part, channel_dim)
    ref = one_shot(x, channel_dim)
    assert m.count == x.numel() // (1 if channel_dim is None else x.shape[channel_dim])
    for key in ("mean", "m2", "m3"):
        np.testing.assert_allclose(getattr(m, key).numpy(), ref[key], rtol=1e-11, atol=1e-9)


def test_merge_equals_one_shot_and_skewness_matches_scipy() -> None:
    x = torch.distributions.Gamma(0.5, 1.0).sample((300, 6)).double()
    a, b, c = RunningMoments(), RunningMoments(), RunningMoments()
    a.update(x[:17], 1)
    b.update(x[17:230], 1)
    c.update(x[230:], 1)
    merged = RunningMoments().merge(a).merge(b.merge(c))
    values = merged.values()
    expected = scipy.stats.skew(x.numpy(), axis=0, bias=False)
    np.testing.assert_allclose(values["skewness"], expected, rtol=1e-10)
    np.testing.assert_allclose(values["var_unbiased"], x.numpy().var(0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(values["second_moment"], (x.numpy() ** 2).mean(0), rtol=1e-12)
    biased = skewness_from_moments(values["count"], merged.m2.numpy(), merged.m3.numpy(), bias=True)
    np.testing.assert_allclose(biased, scipy.stats.skew(x.numpy(), axis=0, bias=True), rtol=1e-10)


def test_skewness_works_on_tensors_like_arrays() -> None:
    x = torch.randn(50, 3).exp().double()
    m = RunningMoments().update(x, 1)
    as_tensor = skewness_from_moments(m.count, m.m2, m.m3)
    np.testing.assert_allclose(as_tensor.numpy(), m.values()["skewness"], rtol=1e-14)


def test_errors_name_the_problem() -> None:
    m = RunningMoments().update(torch.randn(4, 3), 1)
    with pytest.raises(ValueError, match="channel_dim=None differs"):
        m.update(torch.randn(4, 3), None)
    with pytest.raises(ValueError, match="out of range"):
        RunningMoments().update(torch.randn(4, 3), 2)
    with pytest.raises(ValueError, match="nothing to average"):
        RunningMoments().update(torch.randn(4), 0)
    with pytest.raises(ValueError, match="at least 3 values"):
        skewness_from_moments(2, np.ones(1), np.ones(1))
    with pytest.raises(ValueError, match="no data"):
        RunningMoments().values()
    with pytest.raises(ValueError, match="shape"):
        RunningMoments().update(torch.randn(4, 3), 1).merge(RunningMoments().update(torch.randn(4, 2), 1))


def test_series_keeps_order_across_chunks() -> None:
    s = Series()
    values = torch.arange(2500, dtype=torch.float64)
    for v in values:
        s.append(v)
    assert len(s) == 2500
    assert torch.equal(s.tensor(), values)
    assert Series().tensor().numel() == 0


def test_to_host_rebuilds_nested_values() -> None:
    tree = {
        "a": {"x": torch.arange(6, dtype=torch.float32).reshape(2, 3), "n": 4, "y": torch.tensor(2.5)},
        "b": {"c": torch.tensor([1, 0, 3])},
    }
    host = to_host(tree)
    np.testing.assert_array_equal(host["a"]["x"], np.arange(6.0).reshape(2, 3))
    assert host["a"]["n"] == 4 and host["a"]["y"].shape == () and float(host["a"]["y"]) == 2.5
    np.testing.assert_array_equal(host["b"]["c"], [1.0, 0.0, 3.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda g: torch.randn(64, 32, 32, 32, generator=g) * 3 + 1,  # chunked dot products, with a tail
        lambda g: torch.randn(5, 2048 * 17 + 3, generator=g, dtype=torch.float64),  # float64, chunked
        lambda g: torch.randn(64, 32, 32, 32, generator=g).transpose(1, 3),  # strided: the plain path
        lambda g: torch.randn(3, 5, 7, generator=g).half(),  # small and half precision
    ],
)
def test_sum_of_squares_matches_a_float64_sum(make) -> None:
    x = make(torch.Generator().manual_seed(0))
    expected = float(np.sum(x.double().numpy() ** 2))
    got = sum_of_squares(x)
    assert got.dim() == 0 and got.dtype in (torch.float32, torch.float64)
    assert float(got) == pytest.approx(expected, rel=1e-7)
