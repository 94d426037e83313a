"""The runner's per-step hook: ``on_train_step`` sees each step's weights, gradients and batch, and
changes nothing about the run."""

import torch

from normact.train import StepCallback, train

from .tinyrun import make_splits, tiny_config


class Steps:
    """Records, at each step, the step number, mode, batch size, a copy of fc1's weight and gradient."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool, int]] = []
        self.weights: list[torch.Tensor] = []
        self.grads: list[torch.Tensor] = []
        self.flushed: list[int] = []

    def on_train_step(self, model, step, x, y):
        self.seen.append((step, model.training, len(x)))
        self.weights.append(model.fc1.weight.detach().clone())
        self.grads.append(model.fc1.weight.grad.detach().clone())
        torch.rand(3)  # draws from the global RNG: the runner must restore it

    def on_epoch_end(self, model, epoch, batches):
        self.flushed.append(len(self.seen))
        return {}


def test_step_hook_is_called_every_step_with_the_steps_gradients():
    cb = Steps()
    assert isinstance(cb, StepCallback)
    cfg = tiny_config(None, "optim.momentum=0.0", "optim.weight_decay=0.0", "schedule.name=constant",
                      "schedule.warmup_epochs=0")  # fmt: skip
    result = train(cfg, callbacks=[cb], data=make_splits())
    per_epoch = 96 // 16
    assert [s for s, _, _ in cb.seen] == list(range(1, 3 * per_epoch + 1))
    assert all(not training and n == 16 for _, training, n in cb.seen)  # eval mode, as on_epoch_end
    assert cb.flushed == [per_epoch, 2 * per_epoch, 3 * per_epoch]
    # plain SGD: the next step's weights are this step's minus lr times this step's gradient, so the
    # hook saw the weights before the update and the gradient the optimiser used
    for i in range(len(cb.seen) - 1):
        torch.testing.assert_close(cb.weights[i + 1], cb.weights[i] - 0.05 * cb.grads[i])
    torch.testing.assert_close(result.model.fc1.weight.detach(), cb.weights[-1] - 0.05 * cb.grads[-1])


def test_step_hook_does_not_perturb_the_run():
    cfg = tiny_config(None, "model.kwargs.width=12")
    with_cb = train(cfg, callbacks=[Steps()], data=make_splits())
    without = train(cfg, data=make_splits())
    for key, value in without.model.state_dict().items():
        assert torch.equal(value, with_cb.model.state_dict()[key])
    strip = [{k: v for k, v in h.items() if k != "time"} for h in without.history]
    assert strip == [{k: v for k, v in h.items() if k != "time"} for h in with_cb.history]
    assert with_cb.model.training
