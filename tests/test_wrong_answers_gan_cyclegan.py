"""Wrong answers to lessons 04 (GAN) and 06 (CycleGAN): each fails its check with a hint that names the
mistake, and loses marks with the grader on every grading seed; the reference keeps full marks."""

import pytest
import torch
from wrong_answers import SEEDS, check_output, probe_shares

from course_tools import grading
from course_utils import metrics
from course_utils.checks import gan as gan_checks

# ------------------------------------------------------------------------------------------------
# The wrong answers, as a student would write them (executed in the reference namespace)
# ------------------------------------------------------------------------------------------------
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

BUFFER_STOPS_STORING = """
class ImageBuffer:
    def __init__(self, size=50):
        self.size = size
        self.images = []

    def __call__(self, images):
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() < 0.5:
                out.append(self.images[random.randrange(self.size)].clone())
            else:
                out.append(image)
        return torch.stack(out)
"""

BUFFER_NEVER_RETURNS_STORED = """
class ImageBuffer:
    def __init__(self, size=50):
        self.size = size
        self.images = []

    def __call__(self, images):
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
            elif random.random() < 0.5:
                self.images[random.randrange(self.size)] = image
            out.append(image)
        return torch.stack(out)
"""

CYCLE_REVERSED = """
def cycle_loss(G, F, x, y):
    return (G(F(x)) - x).abs().mean() + (F(G(y)) - y).abs().mean()
"""

IDENTITY_SWAPPED = """
def identity_loss(G, F, x, y):
    return (G(x) - x).abs().mean() + (F(y) - y).abs().mean()
"""

OBJECTIVE_WITHOUT_IDENTITY = """
def generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0):
    adversarial = ((D_Y(G(x)) - 1) ** 2).mean() + ((D_X(F(y)) - 1) ** 2).mean()
    cycle = cycle_loss(G, F, x, y)
    identity = identity_loss(G, F, x, y)
    return {"loss": adversarial + lambda_cycle * cycle, "adversarial": adversarial, "cycle": cycle,
            "identity": identity}
"""

OBJECTIVE_DISCRIMINATORS_SWAPPED = """
def generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0):
    adversarial = ((D_X(G(x)) - 1) ** 2).mean() + ((D_Y(F(y)) - 1) ** 2).mean()
    cycle = cycle_loss(G, F, x, y)
    identity = identity_loss(G, F, x, y)
    return {"loss": adversarial + lambda_cycle * cycle + lambda_identity * identity, "adversarial": adversarial,
            "cycle": cycle, "identity": identity}
"""

OBJECTIVE_CYCLE_REVERSED = """
def generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0):
    adversarial = ((D_Y(G(x)) - 1) ** 2).mean() + ((D_X(F(y)) - 1) ** 2).mean()
    cycle = (G(F(x)) - x).abs().mean() + (F(G(y)) - y).abs().mean()
    identity = identity_loss(G, F, x, y)
    return {"loss": adversarial + lambda_cycle * cycle + lambda_identity * identity, "adversarial": adversarial,
            "cycle": cycle, "identity": identity}
"""

_UPDATE = """
def cyclegan_update(G, F_, D_X, D_Y, opt_G, opt_D, x, y, objective, buffer_X, buffer_Y):
    {first}
    terms = objective(G, F_, D_X, D_Y, x, y)
    {zero_G}
    terms["loss"].backward()
    opt_G.step()
    {fakes}
    loss_D = {half} * ((({D_Y_real}) ** 2).mean() + (({D_Y_fake}) ** 2).mean()) \\
        + {half} * ((({D_X_real}) ** 2).mean() + (({D_X_fake}) ** 2).mean())
    {zero_D}
    loss_D.backward()
    opt_D.step()
    return {{k: v.item() for k, v in terms.items()}} | {{"loss_D": loss_D.item()}}
"""


def _update(**changes: str) -> str:
    parts = {
        "first": "",
        "zero_G": "opt_G.zero_grad()",
        "zero_D": "opt_D.zero_grad()",
        "half": "0.5",
        "fakes": "with torch.no_grad(): fake_y, fake_x = buffer_Y(G(x)), buffer_X(F_(y))",
        "D_Y_real": "D_Y(y) - 1",
        "D_Y_fake": "D_Y(fake_y)",
        "D_X_real": "D_X(x) - 1",
        "D_X_fake": "D_X(fake_x)",
    }
    return _UPDATE.format(**{**parts, **changes})


#: the CycleGAN step (exercise 5 of lesson 06): each mistake, and a phrase of the hint that names it
UPDATE = [
    ("06_cyclegan", "check-cyclegan-update", _update(**changes), phrase)
    for changes, phrase in [
        ({"fakes": "fake_y, fake_x = G(x).detach(), F_(y).detach()"}, "pass the fakes through the history buffers"),
        (
            {"fakes": "with torch.no_grad(): fake_y, fake_x = buffer_X(G(x)), buffer_Y(F_(y))"},
            "each domain keeps its own",
        ),
        ({"half": "1.0"}, "halve each discriminator's loss"),
        (
            {"D_Y_real": "D_Y(y)", "D_Y_fake": "D_Y(fake_y) - 1", "D_X_real": "D_X(x)", "D_X_fake": "D_X(fake_x) - 1"},
            "real images to 1 and fakes to 0",
        ),
        ({"zero_D": ""}, "the generators' loss ran through them"),
        ({"zero_G": ""}, "one step is right, the next is not"),
        (
            {
                "first": "with torch.no_grad(): stale_y, stale_x = G(x), F_(y)",
                "fakes": "fake_y, fake_x = buffer_Y(stale_y), buffer_X(stale_x)",
            },
            "with the generators just updated",
        ),
        ({"D_Y_real": "D_Y(x) - 1", "D_X_real": "D_X(y) - 1"}, "D_Y judges real y"),
    ]
]

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
    ("04_gan", "check-gan-step", _gan_step(**changes), phrase)
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
GAN_STEP.append(("04_gan", "check-gan-step", GAN_STEP_GENERATOR_FIRST, "trains the discriminator first"))

#: (lesson, grade_id, wrong answer, a phrase of the hint that names the mistake)
WRONG = [
    ("04_gan", "check-generator-loss", SATURATING_WITH_LOG_SIGMOID, "log(1 − D) breaks down at a large logit"),
    ("04_gan", "check-generator-loss", SATURATING_CLAMPED, "a clamp kills the gradient"),
    ("04_gan", "check-generator-loss", NON_SATURATING_WITH_LOG_SIGMOID, "−log D breaks down at a large logit"),
    ("04_gan", "check-modes-captured", MODES_FROM_THE_LIBRARY, "count the modes yourself"),
    ("04_gan", "check-modes-captured", MODES_FROM_THE_LIBRARY_ALIASED, "count the modes yourself"),
    ("04_gan", "check-modes-captured", MODES_STRICTLY_MORE_THAN_20, "at least 20 high-quality samples"),
    ("04_gan", "check-discriminator-loss", DISCRIMINATOR_LABELS_SWAPPED, "loss on fixed logits"),
    ("04_gan", "check-gan-step", GAN_STEP_SATURATING, "the non-saturating loss, -log D(G(z))"),
    *GAN_STEP,
    ("06_cyclegan", "check-image-buffer", BUFFER_STOPS_STORING, "the buffer must keep storing"),
    ("06_cyclegan", "check-image-buffer", BUFFER_NEVER_RETURNS_STORED, "swap it with a random stored one"),
    ("06_cyclegan", "check-cycle-loss", CYCLE_REVERSED, "the order of the two translations"),
    ("06_cyclegan", "check-identity-loss", IDENTITY_SWAPPED, "compare G(y) with y"),
    ("06_cyclegan", "check-generator-objective", OBJECTIVE_WITHOUT_IDENTITY, "loss = adversarial + λ_cyc · cycle"),
    ("06_cyclegan", "check-generator-objective", OBJECTIVE_DISCRIMINATORS_SWAPPED, "toward 1"),
    ("06_cyclegan", "check-generator-objective", OBJECTIVE_CYCLE_REVERSED, "mean |F(G(x)) − x| + mean |G(F(y)) − y|"),
    *UPDATE,
]

#: hints of the four mistakes above that must not show for the reference or for another mistake
SPECIFIC_HINTS = [
    "breaks down at a large logit",
    "count the modes yourself",
    "the buffer must keep storing",
    "the order of the two translations",
]


@pytest.mark.parametrize("lesson,grade_id,wrong,phrase", WRONG, ids=[f"{w[1]}-{i}" for i, w in enumerate(WRONG)])
def test_the_check_names_the_mistake(lesson, grade_id, wrong, phrase):
    failed, text = check_output(lesson, grade_id, wrong)
    assert failed, text
    assert phrase in text, text


@pytest.mark.parametrize("lesson,grade_id,wrong,phrase", WRONG, ids=[f"{w[1]}-{i}" for i, w in enumerate(WRONG)])
def test_the_grader_takes_marks_off_on_every_seed(lesson, grade_id, wrong, phrase):
    shares = probe_shares(lesson, grade_id, wrong)
    assert all(share < 1 for share in shares), shares


def _grade_ids(lesson: str) -> list[str]:
    return list(grading.lesson_probes(lesson))


@pytest.mark.parametrize(
    "lesson,grade_id", [(lesson, g) for lesson in ("04_gan", "06_cyclegan") for g in _grade_ids(lesson)]
)
def test_the_reference_gets_full_marks_and_passes_its_check(lesson, grade_id):
    assert probe_shares(lesson, grade_id, "") == [1.0] * len(SEEDS)
    failed, text = check_output(lesson, grade_id, "")
    assert not failed and "tests pass" in text and "all" in text, text
    assert not any(hint in text for hint in SPECIFIC_HINTS), text


STUBS = [
    (
        "04_gan",
        "check-generator-loss",
        "def generator_loss(fake_logits, saturating=False):\n    raise NotImplementedError\n",
    ),
    (
        "04_gan",
        "check-modes-captured",
        "def modes_captured(samples, modes, std, threshold=3.0, min_count=20):\n    raise NotImplementedError\n",
    ),
    ("06_cyclegan", "check-cycle-loss", "def cycle_loss(G, F, x, y):\n    raise NotImplementedError\n"),
    ("06_cyclegan", "check-cyclegan-update", "def cyclegan_update(*args):\n    raise NotImplementedError\n"),
    (
        "06_cyclegan",
        "check-image-buffer",
        "class ImageBuffer:\n    def __init__(self, size=50):\n        self.size = size\n        self.images = []\n\n"
        "    def __call__(self, images):\n        raise NotImplementedError\n",
    ),
]


@pytest.mark.parametrize("lesson,grade_id,stub", STUBS, ids=[s[1] for s in STUBS])
def test_an_untouched_stub_is_not_done_yet(lesson, grade_id, stub):
    failed, text = check_output(lesson, grade_id, stub)
    assert failed and "not done yet" in text, text  # NotDone: the cell raises, with the verdict above


# ------------------------------------------------------------------------------------------------
# metrics.mode_coverage refuses only while a check or a probe runs, and is restored after
# ------------------------------------------------------------------------------------------------
def _coverage_works() -> None:
    modes = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    samples = torch.cat([modes[0].repeat(25, 1), modes[1].repeat(5, 1)])
    coverage = metrics.mode_coverage(samples, modes, 0.1)
    assert coverage.modes_captured == 1 and coverage.counts == (25, 5)
    assert metrics.mode_coverage.__code__.co_name == "mode_coverage"


def test_mode_coverage_is_restored_after_the_check_and_the_probes():
    original = metrics.mode_coverage.__code__
    check_output("04_gan", "check-modes-captured", MODES_FROM_THE_LIBRARY)
    assert metrics.mode_coverage.__code__ is original
    _coverage_works()
    probe_shares("04_gan", "check-modes-captured", MODES_FROM_THE_LIBRARY_ALIASED, seeds=(0,))
    assert metrics.mode_coverage.__code__ is original
    _coverage_works()


def test_mode_coverage_refuses_inside_and_is_restored_even_after_an_error():
    with pytest.raises(RuntimeError, match="count the modes yourself"):
        gan_checks.without_mode_coverage(lambda: metrics.mode_coverage(torch.zeros(3, 2), torch.zeros(1, 2), 0.1))
    _coverage_works()

    def fails():
        raise ValueError("a student's own error")

    with pytest.raises(ValueError):
        gan_checks.without_mode_coverage(fails)
    _coverage_works()
    assert gan_checks.without_mode_coverage(lambda: 7) == 7


def test_the_threshold_case_expects_what_the_library_says():
    # the check hard-codes 2 (it no longer calls mode_coverage): the library agrees
    modes = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    samples = torch.cat(
        [
            modes[0].repeat(19, 1),
            modes[1].repeat(20, 1),
            modes[3] + torch.tensor([[0.25, 0.0]]).repeat(50, 1),
            modes[2] + torch.tensor([[0.35, 0.0]]).repeat(50, 1),
        ]
    )
    assert metrics.mode_coverage(samples, modes, 0.1).modes_captured == 2
