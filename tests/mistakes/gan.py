"""Lesson 04 (GAN): the typical mistakes of each graded exercise, as a student would write them."""

from __future__ import annotations

from . import Mistake

SATURATING_WITH_LOG_SIGMOID = """
def generator_loss(fake_logits, saturating=False):
    if saturating:
        return torch.log(1 - torch.sigmoid(fake_logits)).mean()
    return F.softplus(-fake_logits).mean()
"""

SATURATING_CLAMPED = """
def generator_loss(fake_logits, saturating=False):
    if saturating:
        return torch.log((1 - torch.sigmoid(fake_logits)).clamp(min=1e-12)).mean()
    return F.softplus(-fake_logits).mean()
"""

NON_SATURATING_WITH_LOG_SIGMOID = """
def generator_loss(fake_logits, saturating=False):
    if saturating:
        return -F.softplus(fake_logits).mean()
    return -torch.log(torch.sigmoid(fake_logits)).mean()
"""

MODES_FROM_THE_LIBRARY = """
def modes_captured(samples, modes, std, threshold=3.0, min_count=20):
    return metrics.mode_coverage(samples, modes, std).modes_captured
"""

MODES_FROM_THE_LIBRARY_ALIASED = """
from course_utils.metrics import mode_coverage as coverage


def modes_captured(samples, modes, std, threshold=3.0, min_count=20):
    return coverage(samples, modes, std, threshold, min_count).modes_captured
"""

MODES_STRICTLY_MORE_THAN_20 = """
def modes_captured(samples, modes, std, threshold=3.0, min_count=20):
    distance, nearest = torch.cdist(samples, modes).min(dim=1)
    counts = torch.bincount(nearest[distance <= threshold * std], minlength=len(modes))
    return int((counts > min_count).sum())
"""

DISCRIMINATOR_LABELS_SWAPPED = """
def discriminator_loss(real_logits, fake_logits):
    return F.softplus(real_logits).mean() + F.softplus(-fake_logits).mean()
"""

GAN_STEP_SATURATING = """
def gan_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    loss_D = discriminator_loss(D(real), D(fake.detach()))
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()
    loss_G = generator_loss(D(fake), saturating=True)
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()
    return {"loss_D": loss_D.item(), "loss_G": loss_G.item()}
"""


_GAN_STEP = """
def gan_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    {before}
    loss_D = discriminator_loss({real_logits}, D({fake_D}))
    {zero_D}
    loss_D.backward()
    opt_D.step()
    loss_G = generator_loss({fake_logits})
    {zero_G}
    loss_G.backward()
    opt_G.step()
    return {{"loss_D": loss_D.item(), "loss_G": loss_G.item()}}
"""


def _gan_step(**changes: str) -> str:
    parts = {
        "before": "",
        "real_logits": "D(real)",
        "fake_D": "fake.detach()",
        "zero_D": "opt_D.zero_grad()",
        "fake_logits": "D(fake)",
        "zero_G": "opt_G.zero_grad()",
    }
    return _GAN_STEP.format(**{**parts, **changes})


#: lesson 04's step: each mistake, and a phrase of the hint that names it (and no other mistake's hint)
GAN_STEP = [
    Mistake(phrase, "check-gan-step", _gan_step(**changes), phrase)
    for changes, phrase in [
        ({"fake_D": "fake", "fake_logits": "D(G(z))", "zero_G": ""}, "must not leave gradients on the generator"),
        ({"zero_D": ""}, "clear the discriminator's gradients"),
        ({"zero_G": ""}, "clear the generator's gradients"),
        ({"real_logits": "D(fake.detach())", "fake_D": "real"}, "labels real samples 1 and fakes 0"),
    ]
]

GAN_STEP_GENERATOR_FIRST = """
def gan_step(G, D, opt_G, opt_D, real, z):
    loss_G = generator_loss(D(G(z)))
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()
    loss_D = discriminator_loss(D(real), D(G(z).detach()))
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()
    return {"loss_D": loss_D.item(), "loss_G": loss_G.item()}
"""
GAN_STEP.append(
    Mistake("generator step first", "check-gan-step", GAN_STEP_GENERATOR_FIRST, "trains the discriminator first")
)


def _discriminator_loss(body: str) -> str:
    return f"""
def discriminator_loss(real_logits, fake_logits):
    return {body}
"""


def _modes_captured(body: str) -> str:
    return f"""
def modes_captured(samples, modes, std, threshold=3.0, min_count=20):
    return {body}
"""


#: hints that name one mistake only: the reference must never show them
SPECIFIC_HINTS = ("breaks down at a large logit", "count the modes yourself")

MISTAKES = [
    Mistake(
        "saturating with log sigmoid",
        "check-generator-loss",
        SATURATING_WITH_LOG_SIGMOID,
        "log(1 − D) breaks down at a large logit",
    ),
    Mistake("saturating clamped", "check-generator-loss", SATURATING_CLAMPED, "a clamp kills the gradient"),
    Mistake(
        "non saturating with log sigmoid",
        "check-generator-loss",
        NON_SATURATING_WITH_LOG_SIGMOID,
        "−log D breaks down at a large logit",
    ),
    Mistake("modes from the library", "check-modes-captured", MODES_FROM_THE_LIBRARY, "count the modes yourself"),
    Mistake(
        "modes from the library aliased",
        "check-modes-captured",
        MODES_FROM_THE_LIBRARY_ALIASED,
        "count the modes yourself",
    ),
    Mistake(
        "modes strictly more than 20",
        "check-modes-captured",
        MODES_STRICTLY_MORE_THAN_20,
        "at least 20 high-quality samples",
    ),
    Mistake(
        "discriminator labels swapped", "check-discriminator-loss", DISCRIMINATOR_LABELS_SWAPPED, "loss on fixed logits"
    ),
    Mistake("gan step saturating", "check-gan-step", GAN_STEP_SATURATING, "the non-saturating loss, -log D(G(z))"),
    *GAN_STEP,
    Mistake(
        "fakes labelled 1",
        "check-discriminator-loss",
        _discriminator_loss("F.softplus(-real_logits).mean() + F.softplus(-fake_logits).mean()"),
        "labelled 0",
    ),
    Mistake(
        "log of the sigmoid",
        "check-discriminator-loss",
        _discriminator_loss(
            "-(torch.sigmoid(real_logits).log().mean() + (1 - torch.sigmoid(fake_logits)).log().mean())"
        ),
        "work with logits",
    ),
    Mistake(
        "saturating flag ignored",
        "check-generator-loss",
        """
def generator_loss(fake_logits, saturating=False):
    return F.softplus(-fake_logits).mean()
""",
        "log(1 − σ(l))",
    ),
    Mistake(
        "every mode counted", "check-modes-captured", _modes_captured("len(modes)"), "every sample around one mode"
    ),
    Mistake(
        "no distance threshold",
        "check-modes-captured",
        _modes_captured(
            "int((torch.bincount(torch.cdist(samples, modes).argmin(1), minlength=len(modes)) >= min_count).sum())"
        ),
        "within 3 standard deviations",
    ),
]
