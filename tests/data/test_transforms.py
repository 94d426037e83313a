import pytest
import torch

from normact.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def crop_offsets(x: torch.Tensor, out: torch.Tensor, padding: int) -> list[tuple[int, int]]:
    """For each sample, the one (top, left) window of the zero-padded input that equals the output."""
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    h, w = out.shape[-2:]
    offsets = []
    for b in range(len(x)):
        found = [
            (i, j)
            for i in range(padded.shape[2] - h + 1)
            for j in range(padded.shape[3] - w + 1)
            if torch.equal(padded[b, :, i : i + h, j : j + w], out[b])
        ]
        assert len(found) == 1, f"sample {b}: output matches {len(found)} windows"
        offsets.append(found[0])
    return offsets


def test_random_crop_matches_a_per_sample_reference_and_covers_every_offset():
    x = torch.rand(2000, 2, 5, 5, generator=gen(1)) + 0.1  # no exact zeros, so padding is told apart
    out = RandomCrop(5, padding=2)(x, gen(2))
    assert out.shape == x.shape
    counts = torch.zeros(5, 5)
    for i, j in crop_offsets(x, out, 2):
        counts[i, j] += 1
    # 25 equally likely windows, 80 expected each: every one is drawn, none grossly over-drawn.
    assert counts.min() >= 45 and counts.max() <= 120


def test_random_crop_without_padding_and_rectangular_size():
    x = torch.rand(64, 3, 8, 10, generator=gen(3))
    out = RandomCrop((4, 7))(x, gen(4))
    assert out.shape == (64, 3, 4, 7)
    offsets = crop_offsets(x, out, 0)
    assert len(set(offsets)) > 1  # per-sample randomness
    assert torch.equal(RandomCrop((8, 10))(x, gen(5)), x)


def test_random_crop_is_determined_by_the_generator():
    x = torch.rand(16, 3, 12, 12, generator=gen(0))
    crop = RandomCrop(12, padding=4)
    g = gen(7)
    state = g.get_state()
    first = crop(x, g)
    g.set_state(state)  # a resumed run replays the same crops
    assert torch.equal(crop(x, g), first)
    assert not torch.equal(crop(x, gen(8)), first)


def test_random_crop_rejects_bad_input():
    with pytest.raises(ValueError, match=r"expects a \(B, C, H, W\) batch \(got 3D input"):
        RandomCrop(4)(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="exceeds the padded image size"):
        RandomCrop(12, padding=1)(torch.zeros(1, 1, 8, 8))


def test_flip_is_per_sample_with_probability_p():
    x = torch.rand(4000, 1, 3, 4, generator=gen(0))
    out = RandomHorizontalFlip(p=0.3)(x, gen(1))
    flipped = torch.tensor([torch.equal(o, s.flip(-1)) for o, s in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, s) for o, s in zip(out, x, strict=True)])
    assert bool((flipped ^ kept).all())  # each sample is exactly one of the two
    assert 0.27 < flipped.float().mean().item() < 0.33  # 0.3 +- 4 standard errors
    assert torch.equal(RandomHorizontalFlip(0.0)(x, gen(2)), x)
    assert torch.equal(RandomHorizontalFlip(1.0)(x, gen(2)), x.flip(-1))


def test_flip_is_determined_by_the_generator():
    x = torch.rand(32, 3, 4, 4, generator=gen(0))
    assert torch.equal(RandomHorizontalFlip()(x, gen(3)), RandomHorizontalFlip()(x, gen(3)))


def test_normalize_matches_float64():
    x = torch.rand(8, 3, 4, 4, generator=gen(0))
    mean, std = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
    expected = (x.double() - torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)) / torch.tensor(
        std, dtype=torch.float64
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(Normalize(mean, std)(x), expected.float())
    assert Normalize([1.0], [2.0])(torch.ones(2, 1, 3)).eq(0).all()  # any rank with channels on dim 1


def test_normalize_rejects_bad_arguments():
    with pytest.raises(ValueError, match="std > 0"):
        Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match="Normalize has 3 channels of mean/std but the input has shape"):
        Normalize([0.5] * 3, [1.0] * 3)(torch.zeros(2, 1, 4, 4))


def test_compose_passes_one_generator_through():
    x = torch.rand(16, 3, 8, 8, generator=gen(0))
    crop, flip, norm = RandomCrop(8, padding=2), RandomHorizontalFlip(), Normalize([0.5] * 3, [0.25] * 3)
    g = gen(11)
    expected = norm(flip(crop(x, g), g), g)
    assert torch.equal(Compose([crop, flip, norm])(x, gen(11)), expected)
    assert (
        repr(Compose([crop, flip]))
        == "Compose([RandomCrop(size=(8, 8), padding=2), RandomHorizontalFlip(p=0.5)])"
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_batch_with_cpu_generator_matches_cpu():
    x = torch.rand(64, 3, 32, 32, generator=gen(0))
    t = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), Normalize([0.5] * 3, [0.2] * 3)])
    torch.testing.assert_close(t(x.cuda(), gen(1)).cpu(), t(x, gen(1)))
