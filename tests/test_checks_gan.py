"""The lesson 04 checks name typical mistakes (that they pass on the solution is tested in test_lesson04)."""

import pytest
import torch
import torch.nn.functional as F

from course_tools.build import lesson_namespace
from course_utils.checks import CheckFailed
from course_utils.checks import gan as checks

_solution = lesson_namespace("04_gan", ["ex-discriminator-loss", "ex-generator-loss", "ex-gan-step"])
discriminator_loss, generator_loss = _solution["discriminator_loss"], _solution["generator_loss"]


@pytest.mark.parametrize(
    "check,wrong,message",
    [
        (checks.check_discriminator_loss, lambda r, f: F.softplus(-r).mean() + F.softplus(-f).mean(), "labelled 0"),
        (
            checks.check_discriminator_loss,
            lambda r, f: -(torch.sigmoid(r).log().mean() + (1 - torch.sigmoid(f)).log().mean()),
            "work with logits",
        ),
        (checks.check_generator_loss, lambda l, saturating=False: F.softplus(-l).mean(), "log(1 − σ(l))"),
        (checks.check_modes_captured, lambda s, m, std: len(m), "every sample around one mode"),
        (
            checks.check_modes_captured,
            lambda s, m, std: int((torch.bincount(torch.cdist(s, m).argmin(1), minlength=len(m)) >= 20).sum()),
            "within 3 standard deviations",
        ),
    ],
)
def test_mistakes_are_named(check, wrong, message, capsys):
    with pytest.raises(CheckFailed):
        check(wrong)
    assert message in capsys.readouterr().out


def test_step_mistakes_are_named(capsys):
    def no_detach(G, D, opt_G, opt_D, real, z):
        fake = G(z)
        loss_D = discriminator_loss(D(real), D(fake))
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_G = generator_loss(D(G(z)))
        loss_G.backward()  # also forgets opt_G.zero_grad(): the D step's gradients leak into G
        opt_G.step()
        return {"loss_D": loss_D.item(), "loss_G": loss_G.item()}

    with pytest.raises(CheckFailed):
        checks.check_gan_step(no_detach)
    assert "must not leave gradients on the generator" in capsys.readouterr().out

    def saturating(G, D, opt_G, opt_D, real, z):
        fake = G(z)
        loss_D = discriminator_loss(D(real), D(fake.detach()))
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_G = generator_loss(D(G(z)), saturating=True)
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
        return {"loss_D": loss_D.item(), "loss_G": loss_G.item()}

    with pytest.raises(CheckFailed):
        checks.check_gan_step(saturating)
    assert "−log D(G(z))" in capsys.readouterr().out
