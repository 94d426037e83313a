import itertools
import math

import pytest
import torch
from torch import nn

from normact.train import (
    build_optimizer,
    build_scheduler,
    clip_gradients,
    load_config,
    lr_factor,
    param_groups,
)


def _torch_lrs(make, steps, base=0.5):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
    sched = make(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize("steps_per_epoch", [1, 7])
@pytest.mark.parametrize(
    ("overrides", "make"),
    [
        (["schedule.name=step", "schedule.step_size=3", "schedule.gamma=0.5"],
         lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
        (["schedule.name=multistep", "schedule.milestones=[6, 2]", "schedule.gamma=0.1"],
         lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 6], gamma=0.1)),
        (["schedule.name=constant"], lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=1.0)),
    ],
)  # fmt: skip
def test_epoch_schedules_match_torch(overrides, make, steps_per_epoch):
    epochs, base = 10, 0.5
    factor = lr_factor(load_config({}, overrides).schedule, base, epochs, steps_per_epoch)
    expected = _torch_lrs(make, epochs, base)  # torch stepped once per epoch
    got = [base * factor(s) for s in range(epochs * steps_per_epoch)]
    assert got == pytest.approx([expected[s // steps_per_epoch] for s in range(len(got))], rel=1e-12)


def test_cosine_matches_torch_per_step():
    epochs, spe, base, min_lr = 4, 5, 0.2, 0.01
    cfg = load_config({}, ["schedule.name=cosine", f"schedule.min_lr={min_lr}"]).schedule
    factor = lr_factor(cfg, base, epochs, spe)
    expected = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, epochs * spe, min_lr), epochs * spe, base
    )
    assert [base * factor(s) for s in range(epochs * spe)] == pytest.approx(expected, rel=1e-9)
    assert base * factor(epochs * spe) == pytest.approx(min_lr)


def test_warmup_is_linear_then_hands_over():
    spe, warm_epochs, start = 4, 1.5, 0.1
    cfg = load_config({}, ["schedule.name=cosine", f"schedule.warmup_epochs={warm_epochs}",
                           f"schedule.warmup_start_factor={start}"]).schedule  # fmt: skip
    factor = lr_factor(cfg, 1.0, 5, spe)
    warm = 6  # 1.5 epochs of 4 steps
    linear = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start, 1.0, total_iters=warm), warm, 1.0
    )
    assert [factor(s) for s in range(warm)] == pytest.approx(linear, rel=1e-12)
    assert factor(warm) == 1.0  # cosine starts at its top right after warm-up
    assert factor(5 * spe) == pytest.approx(0.0, abs=1e-15)
    values = [factor(s) for s in range(warm, 5 * spe)]
    assert all(a > b for a, b in itertools.pairwise(values))


def test_scheduler_drives_optimizer():
    model = nn.Linear(2, 2)
    cfg = load_config(
        {}, ["optim.lr=0.3", "schedule.name=step", "schedule.step_size=1", "schedule.gamma=0.5"]
    )
    opt = build_optimizer(model, cfg.optim)
    sched = build_scheduler(opt, cfg.schedule, cfg.optim.lr, epochs=3, steps_per_epoch=2)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.3, 0.3, 0.15, 0.15, 0.075, 0.075])


def test_bad_schedule_values():
    with pytest.raises(ValueError, match=r"'schedule\.step_size' must be >= 1"):
        load_config({}, ["schedule.name=step", "schedule.step_size=0"])
    with pytest.raises(ValueError, match="at least one epoch"):
        lr_factor(load_config().schedule, 0.1, 3, 0)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Linear(2, 3)
        self.alpha = nn.Parameter(torch.zeros(()))
        self.frozen = nn.Parameter(torch.zeros(2), requires_grad=False)
        self.tied = self.head  # shared module: its parameters appear once


def _decays(groups):
    return {name: g["weight_decay"] for g in groups for name in g["names"]}


def test_weight_decay_groups_by_selector_first_match_wins():
    net = _Net()
    groups = param_groups(net, 1e-3, {"norm.bias": 5e-4, "bias": 0.0, "alpha": 0.1, "norm": 0.0})
    assert _decays(groups) == {
        "conv.weight": 1e-3,
        "bn.weight": 0.0,
        "bn.bias": 5e-4,
        "head.weight": 1e-3,
        "head.bias": 0.0,
        "alpha": 0.1,
    }
    assert sum(len(g["params"]) for g in groups) == 6
    assert (
        param_groups(net, 0.0, {"b*": 1.0}) and _decays(param_groups(net, 0.0, {"b*": 1.0}))["bn.bias"] == 1.0
    )


def test_unmatched_selector_is_an_error():
    with pytest.raises(ValueError, match=r"selectors \['\*\.gamma'\] match no trainable parameter"):
        param_groups(_Net(), 0.0, {"*.gamma": 0.0})


@pytest.mark.parametrize(
    ("name", "cls", "extra"),
    [("sgd", torch.optim.SGD, {"momentum": 0.8, "nesterov": True}),
     ("adam", torch.optim.Adam, {"betas": (0.5, 0.6), "eps": 1e-6}),
     ("adamw", torch.optim.AdamW, {"betas": (0.5, 0.6), "eps": 1e-6})],
)  # fmt: skip
def test_build_optimizer(name, cls, extra):
    overrides = [
        f"optim.name={name}",
        "optim.lr=0.02",
        "optim.weight_decay=0.1",
        "optim.weight_decay_groups.norm=0",
    ]
    overrides += [f"optim.{k}={list(v) if isinstance(v, tuple) else v}" for k, v in extra.items()]
    opt = build_optimizer(_Net(), load_config({}, overrides).optim)
    assert type(opt) is cls
    assert sorted(g["weight_decay"] for g in opt.param_groups) == [0.0, 0.1]
    for g in opt.param_groups:
        assert g["lr"] == 0.02
        for k, v in extra.items():
            assert g[k] == v


def test_clip_by_value_then_norm():
    torch.manual_seed(0)
    params = [nn.Parameter(torch.zeros(5)), nn.Parameter(torch.zeros(3, 2)), nn.Parameter(torch.zeros(1))]
    grads = [torch.randn_like(p) * 3 for p in params]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    params[2].grad = None  # a parameter without gradient is skipped
    clip_gradients(params, value=2.0, norm=1.5)
    clamped = [g.clamp(-2, 2) for g in grads[:2]]
    total = math.sqrt(sum(float((c.double() ** 2).sum()) for c in clamped))
    for p, c in zip(params[:2], clamped, strict=True):
        torch.testing.assert_close(p.grad, c * min(1.0, 1.5 / (total + 1e-6)))
    assert params[2].grad is None


def test_tied_parameters_are_optimised_once():
    net = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5, bias=False))
    net[1].weight = net[0].weight  # an output projection sharing the embedding (a tied Transformer head)
    groups = param_groups(net, 0.0)
    assert [g["names"] for g in groups] == [["0.weight"]]


def test_inverse_sqrt_after_warmup_steps():
    overrides = ["schedule.name=inverse_sqrt", "schedule.warmup_steps=4", "schedule.warmup_start_factor=0",
                 "schedule.warmup_epochs=9"]  # fmt: skip
    cfg = load_config({}, overrides).schedule
    factor = lr_factor(cfg, 5e-4, 3, 10)  # warmup_steps wins over warmup_epochs
    assert [factor(s) for s in range(5)] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert [factor(s) for s in (9, 16, 29)] == pytest.approx([math.sqrt(4 / 9), 0.5, math.sqrt(4 / 29)])
    no_warmup = lr_factor(load_config({}, ["schedule.name=inverse_sqrt"]).schedule, 1.0, 1, 10)
    assert [no_warmup(s) for s in (0, 1, 4)] == pytest.approx([1.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="warmup_steps' must be >= 0"):
        load_config({}, ["schedule.warmup_steps=-1"])
