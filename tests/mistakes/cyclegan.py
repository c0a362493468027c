"""Lesson 06 (CycleGAN): the typical mistakes of each graded exercise, as a student would write them."""

from __future__ import annotations

from . import Mistake

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
    Mistake(phrase, "check-cyclegan-update", _update(**changes), phrase)
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


#: hints that name one mistake only: the reference must never show them
SPECIFIC_HINTS = ("the buffer must keep storing", "the order of the two translations")

MISTAKES = [
    Mistake("buffer stops storing", "check-image-buffer", BUFFER_STOPS_STORING, "the buffer must keep storing"),
    Mistake(
        "buffer never returns stored",
        "check-image-buffer",
        BUFFER_NEVER_RETURNS_STORED,
        "swap it with a random stored one",
    ),
    Mistake("cycle reversed", "check-cycle-loss", CYCLE_REVERSED, "the order of the two translations"),
    Mistake("identity swapped", "check-identity-loss", IDENTITY_SWAPPED, "compare G(y) with y"),
    Mistake(
        "objective without identity",
        "check-generator-objective",
        OBJECTIVE_WITHOUT_IDENTITY,
        "loss = adversarial + λ_cyc · cycle",
    ),
    Mistake(
        "objective discriminators swapped", "check-generator-objective", OBJECTIVE_DISCRIMINATORS_SWAPPED, "toward 1"
    ),
    Mistake(
        "objective cycle reversed",
        "check-generator-objective",
        OBJECTIVE_CYCLE_REVERSED,
        "mean |F(G(x)) − x| + mean |G(F(y)) − y|",
    ),
    *UPDATE,
    Mistake(
        "squared cycle error",
        "check-cycle-loss",
        """
def cycle_loss(G, F, x, y):
    return ((F(G(x)) - x) ** 2).mean() + ((G(F(y)) - y) ** 2).mean()
""",
        "L1",
    ),
    Mistake(
        "one direction of the cycle",
        "check-cycle-loss",
        """
def cycle_loss(G, F, x, y):
    return (F(G(x)) - x).abs().mean()
""",
        "both directions",
    ),
    Mistake(
        "buffer that never mixes",
        "check-image-buffer",
        """
class ImageBuffer(ImageBuffer):
    def __call__(self, images):
        return images.detach()
""",
        "about half",
    ),
    Mistake(
        "buffer keeps the graph",
        "check-image-buffer",
        """
class ImageBuffer(ImageBuffer):
    def __call__(self, images):
        return images
""",
        "detach",
    ),
    Mistake(
        "adversarial terms toward 0",
        "check-generator-objective",
        """
def generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0):
    adversarial = (D_Y(G(x)) ** 2).mean() + (D_X(F(y)) ** 2).mean()
    cycle, identity = cycle_loss(G, F, x, y), identity_loss(G, F, x, y)
    return {"loss": adversarial + lambda_cycle * cycle + lambda_identity * identity, "adversarial": adversarial,
            "cycle": cycle, "identity": identity}
""",
        "toward 1",
    ),
]
