"""The 2D GAN experiments of lessons 04 and 05, defined once: networks, recipe, training loop, cache.

Lesson 04 trains a GAN and a remedy for mode collapse on the ring and the grid, lesson 05 the same
GAN beside two Wasserstein GANs. Both call :func:`train_2d` with the *same* :data:`RECIPE`, so the
GAN baseline is one definition: lesson 05 prints lesson 04's numbers (and, in a lecture, loads
lesson 04's cached runs instead of training them again).

What a lesson writes itself is the algorithm: the ``step(G, D, opt_G, opt_D, real, z)`` that
updates both players once. This module only moves the data (:func:`course_utils.train.batches`,
:func:`~course_utils.train.noise` and :func:`~course_utils.train.run_steps`, as every lesson's
game does), keeps the moving average of the generator's weights, takes the snapshots the
mode-collapse explorer replays, and caches the result. The cache is keyed by the recipe, the
seed and the networks' code, and a cached run is used only if the step *behaves* as the one that
trained it (:func:`behaviour`: two updates on a fixed small problem give the same numbers). So a
changed algorithm trains again, while lesson 04's ``gan_step``, written in the notebook, and
:func:`gan_step`, its copy here for lesson 05, share one cached run: they compute the same thing.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from . import data, metrics, train
from .device import generator, get_device
from .widgets import Snapshot, field_grid

__all__ = [
    "mlp",
    "Packed",
    "Recipe",
    "RECIPE",
    "Run2D",
    "train_2d",
    "train_all",
    "gan_step",
    "behaviour",
    "same_behaviour",
    "Step",
]

Step = Callable[..., Mapping[str, float]]


def mlp(d_in: int, d_out: int, hidden: int = 128, layers: int = 3) -> nn.Sequential:
    """``layers`` hidden layers of ``hidden`` ReLU units: the generator, discriminator and critic of the 2D runs."""
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.ReLU()]
    return nn.Sequential(*blocks, nn.Linear(hidden, d_out))


class Packed(nn.Module):
    """A PacGAN discriminator (Lin et al. 2018): it judges ``m`` samples at once, concatenated.

    A batch of ``N`` samples becomes ``N / m`` packs of ``m`` (consecutive samples, so a batch is
    either all real or all generated). ``D(x)`` returns one logit per pack. A generator that puts
    every sample on one mode makes packs of near-identical points, which real data almost never
    produces, so the discriminator can tell: packing turns diversity into something it can see.
    """

    def __init__(self, m: int = 2, d: int = 2, hidden: int = 128, layers: int = 3):
        super().__init__()
        self.m, self.d = m, d
        self.net = mlp(m * d, 1, hidden, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) % self.m:
            raise ValueError(f"a batch of {len(x)} samples cannot be cut into packs of {self.m}")
        return self.net(x.reshape(-1, self.m * self.d))


def gan_step(
    G: nn.Module,
    D: nn.Module,
    opt_G: torch.optim.Optimizer,
    opt_D: torch.optim.Optimizer,
    real: torch.Tensor,
    z: torch.Tensor,
) -> dict[str, float]:
    """Lesson 04's algorithm, released for lesson 05's baseline: one discriminator step on
    −log D(x) − log(1 − D(G(z))), then one generator step on the non-saturating −log D(G(z))."""
    fake = G(z)
    loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()
    loss_G = F.softplus(-D(G(z))).mean()
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()
    return dict(loss_D=loss_D.item(), loss_G=loss_G.item())


def behaviour(step: Step, G: nn.Module, D: nn.Module, z_dim: int, critic_steps: int = 1) -> dict[str, list]:
    """What ``step`` does, in numbers: two calls on copies of ``G`` and ``D`` (on the CPU, plain SGD,
    fixed data and noise, the random state restored afterwards), and for each call the values it
    returns and the change of each network's weights projected on a fixed random direction.

    Two steps that compute the same update give the same numbers up to rounding (compare them with
    :func:`same_behaviour`), whatever their source looks like; a different loss, a missing detach or
    a different clipping constant changes them.
    """
    G_probe, D_probe = copy.deepcopy(G).cpu().train(), copy.deepcopy(D).cpu().train()
    pack = getattr(D_probe, "m", 1)
    n = 16 * critic_steps * pack
    keys: list[str] = []
    values: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        draws = torch.Generator().manual_seed(0)
        opt_G = torch.optim.SGD(G_probe.parameters(), lr=0.01)
        opt_D = torch.optim.SGD(D_probe.parameters(), lr=0.01)
        for _ in range(2):
            before = [[p.detach().clone() for p in net.parameters()] for net in (G_probe, D_probe)]
            real = torch.randn(n, 2, generator=draws)
            z = torch.randn(n, z_dim, generator=draws)
            out = step(G_probe, D_probe, opt_G, opt_D, real, z)
            keys = sorted(out)
            values += [float(torch.as_tensor(out[k]).detach()) for k in keys]
            for net, old in zip((G_probe, D_probe), before):
                values.append(
                    sum(
                        float(((p.detach() - p0) * torch.randn(p.shape, generator=draws)).sum())
                        for p, p0 in zip(net.parameters(), old)
                    )
                )
    return {"keys": keys, "values": values}


def same_behaviour(a: Mapping[str, list], b: Mapping[str, list], rtol: float = 1e-4) -> bool:
    """Whether two :func:`behaviour` records agree (the same keys, the same numbers up to ``rtol``)."""
    if list(a.get("keys", [])) != list(b.get("keys", [])) or len(a.get("values", [])) != len(b.get("values", [])):
        return False
    return bool(
        torch.allclose(
            torch.tensor(a["values"], dtype=torch.float64),
            torch.tensor(b["values"], dtype=torch.float64),
            rtol=rtol,
            atol=1e-7,
        )
    )


@dataclass(frozen=True)
class Recipe:
    """How a 2D GAN is trained: the same for the baseline and every remedy it is compared with."""

    steps: Mapping[str, int]  #: generator steps per mixture
    z_dim: Mapping[str, int] = field(default_factory=lambda: {"ring": 16, "grid": 2})  #: noise size per mixture
    batch: int = 256
    lr: float = 1e-3
    #: Adam's, as Gulrajani et al. use for WGAN-GP
    betas: tuple[float, float] = (0.5, 0.9)
    ema: float = 0.999  #: the evaluated generator is this moving average of the trained one's weights
    #: the learning rate is constant until this fraction of the steps, then falls linearly to
    #: ``lr * lr_final`` at the last step (1.0: constant throughout)
    decay_from: float = 1.0
    lr_final: float = 1.0
    snapshots: int = 30


#: the recipe of lessons 04 and 05 (lecture budget; fast mode shrinks the steps). The ring uses a
#: 16-dimensional noise; on the grid, no run with 16 dimensions learned the grid's spread within
#: this budget (2 to 4 of 25 modes, under 10% high quality, for the GAN, minibatch std and WGAN-GP
#: alike), so the grid uses 2, as VEEGAN's and PacGAN's set-ups do. Over the second half of the steps
#: the learning rate falls linearly to 5% of its start, for every method alike, so that the samples
#: settle where training took them rather than jitter around it.
RECIPE = Recipe(steps={"ring": 4000, "grid": 6000}, decay_from=0.5, lr_final=0.05)


@dataclass
class Run2D:
    """A trained 2D GAN: its (averaged) generator, what the explorer replays, and how good it is."""

    G: nn.Module
    snapshots: list[Snapshot]
    history: train.History
    samples: torch.Tensor  #: 2,500 samples of the averaged generator, from fixed noise
    coverage: metrics.Coverage
    seconds: float  #: training time (of the run that made the cache, when loaded from it)
    cached: bool = False

    def metrics(self, tag: str) -> dict[str, float]:
        """``{tag}_modes``, ``{tag}_hq`` (percent), ``{tag}_kl`` and ``{tag}_seconds``: what the bench reports."""
        c = self.coverage
        return {
            f"{tag}_modes": c.modes_captured,
            f"{tag}_hq": 100 * c.high_quality,
            f"{tag}_kl": c.kl_to_uniform,
            f"{tag}_seconds": self.seconds,
        }


def train_2d(
    name: str,
    step: Step,
    G: nn.Module,
    D: nn.Module,
    recipe: Recipe = RECIPE,
    *,
    steps: int | None = None,
    critic_steps: int = 1,
    optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer] | None = None,
    seed: int = 0,
    values: str = "probability",
    label: str = "GAN",
    progress: bool = True,
) -> Run2D:
    """Train ``G`` against ``D`` on the mixture ``name`` with ``step``, or load the cached run.

    ``G`` must take noise of ``recipe.z_dim[name]`` dimensions. Each of ``steps`` iterations
    (default ``recipe.steps[name]``) draws ``critic_steps · batch · m`` real points and as many
    noise vectors, where ``m`` is a :class:`Packed` discriminator's pack size (1 otherwise): as in
    Lin et al. 2018, a packed discriminator judges as many items per step as the baseline's, so the
    generator makes ``m`` samples for each (a WGAN step gives each critic step its own batch). It
    calls ``step(G, D, opt_G, opt_D, real, z)``; both players use Adam with ``recipe.lr`` and
    ``recipe.betas`` unless ``optimizers`` are given, and the evaluated generator is the moving
    average of ``G``'s weights. ``values`` is how ``D``'s output is drawn behind the samples:
    ``"probability"`` (a sigmoid, a GAN) or ``"score"`` (a critic's raw value). The snapshots show
    the trained generator as it moves.
    """
    steps = recipe.steps[name] if steps is None else steps
    z_dim = recipe.z_dim[name]
    mixture = data.load(name, n=20_000, seed=seed)
    device = get_device()
    config = {
        "mixture": name,
        "recipe": {k: v for k, v in asdict(recipe).items() if k not in ("steps", "z_dim")},
        "z_dim": z_dim,
        "steps": steps,
        "critic_steps": critic_steps,
        "seed": seed,
        "optimizers": [type(o).__name__ for o in optimizers] if optimizers else "adam",
        "code": train.code_fingerprint(type(G).forward, type(D).forward),
        "architecture": [repr(G), repr(D)],
    }
    pack = getattr(D, "m", 1)
    if pack > 1:
        config["pack"] = pack
    G_average = copy.deepcopy(G)

    def run() -> dict:
        G.to(device)
        D.to(device)
        G_average.load_state_dict(G.state_dict())
        G_average.to(device)
        opt_G, opt_D = optimizers or (
            torch.optim.Adam(G.parameters(), lr=recipe.lr, betas=recipe.betas),
            torch.optim.Adam(D.parameters(), lr=recipe.lr, betas=recipe.betas),
        )
        start = int(recipe.decay_from * steps)
        length = max(steps - 1 - start, 1)

        def factor(i: int) -> float:  # of the learning rate at step i
            return 1.0 - (1.0 - recipe.lr_final) * max(i - start, 0) / length

        schedules = [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in (opt_G, opt_D)]
        n = recipe.batch * critic_steps * pack
        reals, noise = train.batches(mixture.x, batch_size=n, seed=seed), train.noise(n, z_dim, seed=seed + 1)
        z_fixed = torch.randn(1000, z_dim, generator=generator(99)).to(device)
        points = field_grid(mixture.extent, resolution=60).to(device)

        def one_step(i: int) -> Mapping[str, float]:
            (real,) = next(reals)
            losses = step(G, D, opt_G, opt_D, real, next(noise))
            for schedule in schedules:
                schedule.step()
            with torch.no_grad():
                weight = 1 - min(recipe.ema, (1 + i) / (10 + i))  # a short warm-up, then the average
                for p_average, p in zip(G_average.parameters(), G.parameters()):
                    p_average.lerp_(p, weight)
            return losses

        history, shots = train.run_steps(
            one_step,
            steps,
            models=(G, D),
            seed=seed,
            every=max(steps // recipe.snapshots, 1),
            snapshot=lambda i: _snapshot(i, G, D, z_fixed, points, mixture, values),
            desc=f"{name}, {label}",
            progress=progress,
        )
        return {
            "G": {k: v.cpu() for k, v in G_average.state_dict().items()},
            "history": history.to_dict(),
            "seconds": history.seconds,
            "snapshots": [[s.step, s.samples, s.field, s.note] for s in shots],
            "behaviour": does,
        }

    does = behaviour(step, G, D, z_dim, critic_steps)
    computed = []

    def compute() -> dict:
        computed.append(1)
        with train.single_thread(device):
            return run()

    saved = train.cached(
        f"2d-{name}-{label}",
        config,
        compute,
        valid=lambda value: same_behaviour(value.get("behaviour", {}), does),
    )
    G_average.load_state_dict(saved["G"])
    G_average.to(device).eval()
    G.eval()
    D.eval()
    with torch.no_grad():
        samples = G_average(torch.randn(2500, z_dim, generator=generator(123)).to(device)).cpu()
    history = train.History.from_dict(saved["history"])
    history.per_block(100)  # a run cached before the history kept them
    return Run2D(
        G_average,
        [Snapshot(*fields) for fields in saved["snapshots"]],
        history,
        samples,
        metrics.mode_coverage(samples, mixture.modes, mixture.std),
        float(saved["seconds"]),
        cached=not computed,
    )


K = TypeVar("K")


def train_all(
    calls: Mapping[K, Callable[[], Run2D]],
    workers: int | None = None,
    priority: Callable[[K], Any] | None = None,
) -> dict[K, Run2D]:
    """The runs of several :func:`train_2d` calls, keyed as ``calls`` is: what is cached loads, and
    the rest train side by side in worker processes (:func:`course_utils.train.in_workers`; on a
    two-core laptop, two runs at once take about the time of one). Each ``calls[key]()`` must
    call :func:`train_2d` and return its run. ``priority(key)`` orders the runs to train, largest
    first (the longest runs should start first). The keys that trained first get ``cached=False``."""
    runs, trained = train.in_workers(calls, workers=workers, desc="2D GANs", priority=priority)
    for key in trained:
        runs[key].cached = False
    return runs


@torch.no_grad()
def _snapshot(
    i: int, G: nn.Module, D: nn.Module, z: torch.Tensor, points: torch.Tensor, mixture: data.Points, kind: str
) -> Snapshot:
    samples = G(z)
    if isinstance(D, Packed):  # a pack of the point with generated samples: D's verdict on the point among fakes
        partners = samples[: len(points) * (D.m - 1)].repeat(-(-len(points) * (D.m - 1) // len(samples)), 1)
        packs = torch.cat([points.unsqueeze(1), partners[: len(points) * (D.m - 1)].view(len(points), D.m - 1, -1)], 1)
        values = D(packs.reshape(-1, points.shape[1]))
    else:
        values = D(points)
    values = torch.sigmoid(values) if kind == "probability" else values
    samples = samples.cpu()
    coverage = metrics.mode_coverage(samples, mixture.modes, mixture.std)
    return Snapshot(i, samples, values.view(60, 60).cpu(), f"{coverage}")
