"""Lesson 05 (WGAN): the typical mistakes of each graded exercise, as a student would write them."""

from __future__ import annotations

from . import Mistake


def _wasserstein(body: str) -> str:
    return f"""
def wasserstein_1d(u, v):
    return {body}
"""


def _penalty(
    x_hat: str = "(t * real + (1 - t) * fake).requires_grad_(True)",
    create_graph: str = "True",
    penalty: str = "((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()",
    t: str = "torch.rand(len(real), *[1] * (real.dim() - 1))",
) -> str:
    return f"""
def gradient_penalty(critic, real, fake):
    t = {t}
    x_hat = {x_hat}
    grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph={create_graph})
    return {penalty}
"""


_WGAN_STEP = """
def wgan_step(n_critic, clip=None, penalty=None):
    def step(G, C, opt_G, opt_C, real, z):
        reals, zs = {slices}
        {generator_first}
        for batch, z_k in {pairs}:
            fake = {fake}
            loss_C = critic_loss(C(batch), C(fake))
            w_estimate = {w_before}
            if penalty:
                loss_C = loss_C + {weight} * gradient_penalty(C, batch, fake)
            {w_after}
            {zero_C}
            loss_C.backward()
            {clip_before}
            opt_C.step()
            {clip_after}
        {clip_end}
        loss_G = {loss_G}
        {zero_G}
        {backward_G}
        return {{"W_estimate": w_estimate, "loss_G": loss_G.item()}}
    return step
"""


def _wgan_step(**changes: str) -> str:
    parts = {
        "slices": "real.chunk(n_critic), z.chunk(n_critic)",
        "generator_first": "",
        "pairs": "zip(reals, zs)",
        "fake": "G(z_k).detach()",
        "w_before": "-loss_C.item()",
        "weight": "penalty",
        "w_after": "",
        "zero_C": "opt_C.zero_grad()",
        "clip_before": "",
        "clip_after": "if clip: clip_weights(C, clip)",
        "clip_end": "",
        "loss_G": "wgan_generator_loss(C(G(zs[-1])))",
        "zero_G": "opt_G.zero_grad()",
        "backward_G": "loss_G.backward(); opt_G.step()",
    }
    return _WGAN_STEP.format(**{**parts, **changes})


#: the WGAN step (exercise 5 of lesson 05): the mistakes a student is likely to make, each named by its hint
WGAN_STEP = [
    Mistake(name, "check-wgan-step", _wgan_step(**changes), hint)
    for name, changes, hint in [
        ("one critic step on the whole batch", {"slices": "[real], [z]"}, "not one step on all of it"),
        ("every critic step on the first slice", {"pairs": "[(reals[0], zs[0])] * n_critic"}, "its own slice"),
        ("the generator on all the noise", {"loss_G": "wgan_generator_loss(C(G(z)))"}, "last slice of noise only"),
        (
            "the generator on the first slice",
            {"loss_G": "wgan_generator_loss(C(G(zs[0])))"},
            "the one the critic saw last",
        ),
        (
            "fakes not detached, the generator's gradients never cleared",
            {"fake": "G(z_k)", "zero_G": ""},
            "must not leave gradients on the generator",
        ),
        ("the critic's gradients never cleared", {"zero_C": ""}, "clear the critic's gradients"),
        (
            "clipping once after the loop",
            {"clip_after": "", "clip_end": "if clip: clip_weights(C, clip)"},
            "clip after every critic update",
        ),
        (
            "clipping before the update",
            {"clip_after": "", "clip_before": "if clip: clip_weights(C, clip)"},
            "clip right after the critic's update",
        ),
        ("the penalty left out", {"weight": "0"}, "add the weighted gradient penalty"),
        ("every critic step on the whole batch", {"pairs": "[(real, z)] * n_critic"}, "not the whole batch every time"),
        (
            "W read after the critic's update",
            {
                "w_after": "",
                "clip_after": "if clip: clip_weights(C, clip)\n"
                "            with torch.no_grad(): w_estimate = (C(batch).mean() - C(fake).mean()).item()",
            },
            "before the critic's update",
        ),
        (
            "the penalty counted in W",
            {"w_before": "0.0", "w_after": "w_estimate = -loss_C.item()"},
            "before the penalty is added",
        ),
        ("W with the sign flipped", {"w_before": "loss_C.item()"}, "the negative of its loss"),
        (
            "the generator step first",
            {
                "generator_first": "first = wgan_generator_loss(C(G(zs[-1]))); opt_G.zero_grad(); "
                "first.backward(); opt_G.step()",
                "loss_G": "first",
                "zero_G": "",
                "backward_G": "",
            },
            "train the critic first",
        ),
    ]
]


def _critic_losses(critic: str, generator: str) -> str:
    return f"""
def critic_loss(real_scores, fake_scores):
    return {critic}


def wgan_generator_loss(fake_scores):
    return {generator}
"""


MISTAKES = [
    Mistake(
        "distance between the means",
        "check-wasserstein-1d",
        _wasserstein("(u.mean() - v.mean()).abs()"),
        "not the distance between the means",
        ("sort both samples",),
    ),
    Mistake(
        "W2 instead of W1",
        "check-wasserstein-1d",
        _wasserstein("((torch.sort(u).values - torch.sort(v).values) ** 2).mean().sqrt()"),
        "not their squares",
        ("sort both samples",),
    ),
    Mistake(
        "sum instead of mean",
        "check-wasserstein-1d",
        _wasserstein("(torch.sort(u).values - torch.sort(v).values).abs().sum()"),
        "do not add them up",
        ("sort both samples",),
    ),
    Mistake(
        "mean of the signed sorted differences",
        "check-wasserstein-1d",
        _wasserstein("(torch.sort(u).values - torch.sort(v).values).mean().abs()"),
        "not the distance between the means",
    ),
    Mistake(
        "penalty at the real points only",
        "check-gradient-penalty",
        _penalty(x_hat="real.clone().requires_grad_(True)"),
        "not at the samples themselves",
        ("rand_like",),
    ),
    Mistake(
        "one t per coordinate",
        "check-gradient-penalty",
        _penalty(t="torch.rand_like(real)"),
        "one t per sample",
    ),
    Mistake(
        "no graph through the gradient",
        "check-gradient-penalty",
        _penalty(create_graph="False"),
        "keep its graph",
    ),
    Mistake(
        "squared norm",
        "check-gradient-penalty",
        _penalty(penalty="((grad.flatten(1).pow(2).sum(1) - 1) ** 2).mean()"),
        "not its squared length",
        ("square the difference",),
    ),
    Mistake(
        "absolute difference from 1",
        "check-gradient-penalty",
        _penalty(penalty="(grad.flatten(1).norm(dim=1) - 1).abs().mean()"),
        "square the difference from 1",
    ),
    Mistake(
        "clipping the weights but not the biases",
        "check-clip-weights",
        """
def clip_weights(critic, c):
    with torch.no_grad():
        for name, p in critic.named_parameters():
            if "weight" in name:
                p.clamp_(-c, c)
""",
        "the biases too",
    ),
    Mistake(
        "critic loss with the sign flipped",
        "check-critic-losses",
        """
def critic_loss(real_scores, fake_scores):
    return real_scores.mean() - fake_scores.mean()
""",
        "sign reversed",
    ),
    Mistake(
        "unsorted samples",
        "check-wasserstein-1d",
        _wasserstein("(u - v).abs().mean()"),
        "sort both samples",
    ),
    Mistake(
        "both signs flipped",
        "check-critic-losses",
        _critic_losses("real_scores.mean() - fake_scores.mean()", "-fake_scores.mean()"),
        "sign reversed",
    ),
    Mistake(
        "generator loss with the sign flipped",
        "check-critic-losses",
        _critic_losses("fake_scores.mean() - real_scores.mean()", "fake_scores.mean()"),
        "maximises E[f(fake)]",
    ),
    Mistake(
        "weights rescaled instead of clamped",
        "check-clip-weights",
        """
def clip_weights(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(c / p.abs().max())
""",
        "clamp, do not rescale",
    ),
    Mistake(
        "one-sided penalty",
        "check-gradient-penalty",
        _penalty(penalty="((grad.flatten(1).norm(dim=1) - 1).clamp_min(0) ** 2).mean()"),
        "on both sides",
    ),
    *WGAN_STEP,
]
