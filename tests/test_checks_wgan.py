"""The lesson 05 checks name typical mistakes (that they pass on the solution is tested in test_lesson05)."""

import pytest
import torch

from course_utils.checks import CheckFailed
from course_utils.checks import wgan as checks


def _per_element(critic, real, fake):
    t = torch.rand_like(real)
    x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def _no_graph(critic, real, fake):
    t = torch.rand(len(real), 1)
    x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def _one_sided(critic, real, fake):
    t = torch.rand(len(real), 1)
    x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=1) - 1).clamp_min(0) ** 2).mean()


def _rescale(model, c):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(c / p.abs().max())


@pytest.mark.parametrize(
    "check,args,message",
    [
        (checks.check_wasserstein_1d, [lambda a, b: (a - b).abs().mean()], "sort both samples"),
        (checks.check_critic_losses, [lambda r, f: r.mean() - f.mean(), lambda f: -f.mean()], "sign reversed"),
        (checks.check_critic_losses, [lambda r, f: f.mean() - r.mean(), lambda f: f.mean()], "maximises E[f(fake)]"),
        (checks.check_clip_weights, [_rescale], "clamp, do not rescale"),
        (checks.check_gradient_penalty, [_per_element], "one t per sample"),
        (checks.check_gradient_penalty, [_no_graph], "keep its graph"),
        (checks.check_gradient_penalty, [_one_sided], "on both sides"),
    ],
)
def test_mistakes_are_named(check, args, message, capsys):
    with pytest.raises(CheckFailed):
        check(*args)
    assert message in capsys.readouterr().out
