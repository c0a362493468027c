# %% [markdown]
# # Lesson 04 · Generative adversarial networks
#
# **The question.** Lessons 02 and 03 wrote down a density $p_\theta(x)$ and maximised it. Do we need
# a density at all, if all we want is *samples*?
#
# **The idea.** An *implicit* model: draw noise $z \sim \mathcal{N}(0, I)$ and transform it with a
# network, $x = G(z)$. There is no formula for $p_G(x)$, so we cannot maximise the likelihood. Instead
# we train a second network, a **discriminator** $D(x) \in (0, 1)$, to tell real from generated
# samples. It is a self-supervised classifier: the labels come for free. The generator is trained
# to fool it. Goodfellow et al. (2014) wrote this as a two-player game:
#
# $$
# \min_G \max_D \; V(D, G) = \mathbb{E}_{x \sim p_\text{data}}[\log D(x)] + \mathbb{E}_{z \sim p(z)}[\log(1 - D(G(z)))].
# $$
#
# In this lesson you will
# 1. find the optimal discriminator and what the game minimises (a Jensen-Shannon divergence);
# 2. write both generator losses, and see why one of them stalls;
# 3. see why a game is harder to optimise than a loss;
# 4. watch mode collapse happen, measure it, and fight it two ways (packing, and the R1 penalty);
# 5. train a DCGAN and a class-conditional GAN on digits, and score them with a classifier.

# %%
import math
from dataclasses import replace
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import budget, fast_mode, get_device, hint, seed_everything
from course_utils import data, gan2d, metrics, train, viz, widgets
from course_utils.checks import gan as checks
from course_utils.results import record, say

device = get_device()
seed_everything(0)
print(f"device: {device}; fast mode: {fast_mode()}")

# %% [markdown]
# ## 1. The optimal discriminator
#
# For a fixed generator, $V$ is an integral over $x$ of $p_\text{data}(x) \log D(x) + p_G(x) \log(1 - D(x))$.
# Maximising $a \log y + b \log(1 - y)$ pointwise over $y \in (0, 1)$ gives $y = a / (a + b)$:
#
# $$
# D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_G(x)} .
# $$
#
# Put it back into $V$:
#
# $$
# V(D^*, G) = \mathbb{E}_{p_\text{data}}\!\left[\log \frac{p_\text{data}}{p_\text{data} + p_G}\right]
#           + \mathbb{E}_{p_G}\!\left[\log \frac{p_G}{p_\text{data} + p_G}\right]
#           = 2\, \mathrm{JSD}(p_\text{data} \,\|\, p_G) - 2 \log 2 ,
# $$
#
# with $\mathrm{JSD}(p \,\|\, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m)$ and
# $m = \tfrac12(p + q)$. With a perfect discriminator, the generator minimises a Jensen-Shannon
# divergence, which is zero exactly when $p_G = p_\text{data}$.
#
# **Checking it on 1D distributions.** Take $p_\text{data} = \mathcal{N}(1.5, 0.5^2)$ and a fixed
# "generator" $p_G = \mathcal{N}(-0.5, 1)$. Train a small discriminator to convergence and compare.

# %% [markdown]
# ### ✎ Exercise 1: the discriminator's loss
# The discriminator maximises $V$, so it minimises
# $-\frac1N\sum_n \log D(x_n) - \frac1N\sum_n \log(1 - D(G(z_n)))$: the binary cross-entropy
# with label 1 for real and 0 for generated samples. $D$ outputs a *logit* $\ell$, with
# $D = \sigma(\ell)$. Use $-\log \sigma(\ell) = \operatorname{softplus}(-\ell)$ and
# $-\log(1 - \sigma(\ell)) = \operatorname{softplus}(\ell)$, which stay finite however confident $D$ is.

# %% id="ex-discriminator-loss"
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """−mean log D(x) − mean log(1 − D(G(z))), from the discriminator's logits."""
    ### HINT: Binary cross-entropy from logits, with label 1 for real and 0 for generated samples: use the two softplus identities above and average each term over its own batch.
    ### HINT 2: The softplus identities turn each log of a sigmoid into something finite for any logit; which sign goes with real and which with fake follows from the labels 1 and 0. Test your loss on logits of 0: it must give 2 log 2.
    ### BEGIN SOLUTION
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    ### END SOLUTION


# %% id="check-discriminator-loss" points=2 tags=["nbval-check-output"]
checks.check_discriminator_loss(discriminator_loss)

# %%
p_data = torch.distributions.Normal(1.5, 0.5)
p_G = torch.distributions.Normal(-0.5, 1.0)
seed_everything(0)
D_1d = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))


def fit_D_1d() -> dict:
    """Train D_1d to convergence against the fixed generator; its weights (cached: a second run loads them)."""
    optimizer = torch.optim.Adam(D_1d.parameters(), lr=3e-3)
    for _ in range(budget(1500, 200)):
        loss = discriminator_loss(D_1d(p_data.sample((512, 1))), D_1d(p_G.sample((512, 1))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return D_1d.state_dict()


D_1d.load_state_dict(train.cached("04-d-star", {"steps": budget(1500, 200), "lr": 3e-3,
                                                "code": train.code_fingerprint(discriminator_loss, fit_D_1d)}, fit_D_1d))

xs = torch.linspace(-4, 4, 801).unsqueeze(1)
with torch.no_grad():
    density_data, density_G = p_data.log_prob(xs).exp(), p_G.log_prob(xs).exp()
    D_star = density_data / (density_data + density_G)
    D_trained = torch.sigmoid(D_1d(xs))

fig, ax = plt.subplots(figsize=(6.5, 3.4))
ax.plot(xs, density_data, color="black", label="$p_{data}$")
ax.plot(xs, density_G, color="tab:orange", label="$p_G$")
ax.plot(xs, D_star, color="tab:blue", lw=2.5, alpha=0.5, label="$D^*(x)$ (analytic)")
ax.plot(xs, D_trained, color="tab:blue", ls="--", label="trained D(x)")
ax.set_xlabel("x")
ax.set_ylabel("density / probability real")
ax.set_title("a discriminator trained to convergence finds $D^*$")
ax.legend(fontsize="small")
plt.show()

# V(D, G) by Monte Carlo, against 2 JSD − 2 log 2 by numerical integration
with torch.no_grad():
    real, fake = p_data.sample((200_000, 1)), p_G.sample((200_000, 1))
    V_trained = (F.logsigmoid(D_1d(real)).mean() + F.logsigmoid(-D_1d(fake)).mean()).item()
grid = torch.linspace(-12, 12, 240_001, dtype=torch.float64)
p, q = p_data.log_prob(grid).double().exp(), p_G.log_prob(grid).double().exp()
m = (p + q) / 2
dx = float(grid[1] - grid[0])
kl = lambda a, b: float(torch.where(a > 0, a * (a / b).log(), torch.zeros_like(a)).sum() * dx)  # noqa: E731
jsd = 0.5 * kl(p, m) + 0.5 * kl(q, m)
print(f"V(D, G) with the trained D: {V_trained:.4f}")
print(f"2·JSD − 2·log 2:            {2 * jsd - 2 * math.log(2):.4f}   (JSD = {jsd:.4f} nats; log 2 = {math.log(2):.4f})")

# %% [markdown]
# The trained $D$ lies on $D^*$ where there is data, and drifts where neither distribution has
# mass (there is nothing to learn there). The value of the game matches $2\,\mathrm{JSD} - 2 \log 2$.
#
# ## 2. Two losses for the generator
#
# The minimax generator minimises $\log(1 - D(G(z)))$. Early in training, fakes are easy to spot:
# $D(G(z)) \approx 0$. As a function of $D$ the loss is not flat there (its slope is $-1$), but $D$
# is a sigmoid of a logit $\ell$, and $\frac{d}{d\ell}\log(1 - \sigma(\ell)) = -\sigma(\ell) = -D$:
# the gradient that reaches the generator vanishes with $D$, so it gets almost no signal just when
# it needs one (the right-hand panel below). Goodfellow et al. suggest the **non-saturating** loss $-\log D(G(z))$ instead. It has
# the same fixed point, and its gradient is strongest exactly where $D(G(z)) \approx 0$.
#
# ### ✎ Exercise 2: the generator's losses

# %% id="ex-generator-loss"
def generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """saturating: mean log(1 − D(G(z))); non-saturating: mean −log D(G(z)); from logits."""
    ### HINT: Write each loss as a function of the logit with the softplus identities of exercise 1; the saturating loss is log(1 - D), and the generator minimises it.
    ### HINT 2: Both losses are written from the fake logits alone. The saturating one is log(1 - D), minimised, so its value is negative; the non-saturating one is -log D. Check both at a logit of -100: finite values, and a gradient near 0 for the saturating loss only.
    ### BEGIN SOLUTION
    if saturating:
        return -F.softplus(fake_logits).mean()
    return F.softplus(-fake_logits).mean()
    ### END SOLUTION


# %% id="check-generator-loss" points=2 tags=["nbval-check-output"]
checks.check_generator_loss(generator_loss)

# %%
d_values = torch.linspace(0.001, 0.999, 500)
logits = torch.log(d_values / (1 - d_values)).requires_grad_()
curves, slopes = {}, {}
for name, saturating in (("saturating  log(1 − D)", True), ("non-saturating  −log D", False)):
    logits.grad = None
    per_sample = torch.stack([generator_loss(l.view(1, 1), saturating) for l in logits])
    per_sample.sum().backward()
    curves[name], slopes[name] = per_sample.detach(), logits.grad.clone()
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for name in curves:
    axes[0].plot(d_values, curves[name], label=name)
    axes[1].plot(d_values, slopes[name].abs(), label=name)
axes[0].set_xlabel("D(G(z))")
axes[0].set_ylabel("generator loss")
axes[0].set_title("the two generator losses")
axes[1].set_xlabel("D(G(z))")
axes[1].set_ylabel("|d loss / d logit|")
axes[1].set_title("their gradients: where does the generator learn?")
for ax in axes:
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# **A run where it matters.** A 1D generator $G(z) = a z + b$ starts at $b = -4$, far from the data
# $\mathcal{N}(2, 0.5^2)$, against a discriminator given a head start. We update the generator with
# plain SGD, so the size of its gradient is what moves it. (Adam rescales each gradient by its
# running size and partly hides the effect, though not the noise of a near-zero signal.)

# %%
def one_d_run(saturating: bool, steps: int) -> list[float]:
    seed_everything(0)
    target = torch.distributions.Normal(2.0, 0.5)
    G_1d = nn.Linear(1, 1)
    with torch.no_grad():
        G_1d.weight.fill_(1.0)
        G_1d.bias.fill_(-4.0)
    D_small = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    opt_G, opt_D = torch.optim.SGD(G_1d.parameters(), lr=0.05), torch.optim.Adam(D_small.parameters(), lr=1e-2)
    for _ in range(300):  # the discriminator's head start
        loss = discriminator_loss(D_small(target.sample((256, 1))), D_small(G_1d(torch.randn(256, 1)).detach()))
        opt_D.zero_grad()
        loss.backward()
        opt_D.step()
    means = []
    for _ in range(steps):
        z = torch.randn(256, 1)
        loss = discriminator_loss(D_small(target.sample((256, 1))), D_small(G_1d(z).detach()))
        opt_D.zero_grad()
        loss.backward()
        opt_D.step()
        loss = generator_loss(D_small(G_1d(z)), saturating)
        opt_G.zero_grad()
        loss.backward()
        opt_G.step()
        means.append(G_1d.bias.item())
    return means


steps_1d = budget(1500, 100)
runs_1d = train.cached("04-saturation-1d", {"steps": steps_1d, "code": train.code_fingerprint(
    discriminator_loss, generator_loss, one_d_run)}, lambda: {"saturating": one_d_run(True, steps_1d),
                                                             "non-saturating": one_d_run(False, steps_1d)})
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, means in runs_1d.items():
    ax.plot(means, label=name)
ax.axhline(2.0, color="black", ls=":", label="data mean")
ax.set_xlabel("generator step")
ax.set_ylabel("mean of G(z)  (the bias b)")
ax.set_title("the saturating loss stalls, the non-saturating one learns")
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# ## 3. Why a game is hard: gradient steps on $\min_x \max_y xy$
#
# The simplest zero-sum game, $f(x, y) = xy$: $x$ minimises and $y$ maximises. Its only equilibrium
# is $(0, 0)$. *Simultaneous* gradient steps $x \leftarrow x - \eta y$, $y \leftarrow y + \eta x$
# multiply the distance to the equilibrium by $\sqrt{1 + \eta^2}$ at every step: they spiral
# **out**. *Alternating* steps (update $x$, then $y$ with the new $x$) preserve a quadratic quantity
# and circle **forever** without converging. Neither finds the equilibrium, although each player
# follows its own gradient. GAN training is a game of this kind, in millions of dimensions.

# %%
def play(eta: float, steps: int, alternating: bool, gamma: float = 0.0) -> np.ndarray:
    """Gradient play on min_x max_y xy - gamma/2 y^2 from (1, 1); gamma = 0 is the plain game."""
    x, y = 1.0, 1.0
    path = [(x, y)]
    for _ in range(steps):
        if alternating:
            x = x - eta * y
            y = y + eta * (x - gamma * y)
        else:
            x, y = x - eta * y, y + eta * (x - gamma * y)
        path.append((x, y))
    return np.array(path)


fig, ax = plt.subplots(figsize=(4.8, 4.6))
for name, alternating in (("simultaneous", False), ("alternating", True)):
    path = play(0.1, 150, alternating)
    ax.plot(path[:, 0], path[:, 1], lw=1, label=f"{name}: |(x, y)| {np.hypot(*path[0]):.2f} → {np.hypot(*path[-1]):.2f}")
ax.scatter([0], [0], color="black", marker="*", s=120, label="equilibrium (0, 0)")
ax.set_xlabel("x (minimises xy)")
ax.set_ylabel("y (maximises xy)")
ax.set_title("gradient play on min_x max_y xy, step 0.1")
ax.legend(fontsize="small", loc="lower left")
ax.set_aspect("equal")
plt.show()

# %% [markdown]
# ## 4. Mode collapse on 2D mixtures
#
# Goodfellow's **Algorithm 1** alternates $k$ discriminator steps with one generator step; $k = 1$
# is the common choice. Write one step.
#
# ### ✎ Exercise 3: one training step
# Given networks, their optimisers, a batch of real samples and a batch of noise $z$:
# 1. discriminator step: fakes $G(z)$ **detached** (this step must not move $G$),
#    `discriminator_loss`, zero the gradients, backward, step;
# 2. generator step: recompute $D(G(z))$ with the *updated* $D$, non-saturating `generator_loss`,
#    zero the generator's gradients, backward, step.
#
# Return both losses as Python floats.

# %% id="ex-gan-step"
def gan_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer,
             real: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
    """One discriminator step, then one non-saturating generator step. Returns {'loss_D', 'loss_G'}."""
    ### HINT: Two updates in order: the discriminator on real samples and on generated ones cut from the generator's graph, then the generator through the updated discriminator; each optimiser's gradients are zeroed before its backward pass.
    ### HINT 2: Three slips are common: letting the discriminator's step reach the generator, scoring the fakes for the generator's step with the discriminator from before its update, and forgetting to clear gradients before a backward pass.
    ### BEGIN SOLUTION
    fake = G(z)
    loss_D = discriminator_loss(D(real), D(fake.detach()))
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()
    loss_G = generator_loss(D(G(z)))
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()
    return {"loss_D": loss_D.item(), "loss_G": loss_G.item()}
    ### END SOLUTION


# %% id="check-gan-step" points=8 tags=["nbval-check-output"]
checks.check_gan_step(gan_step)

# %% [markdown]
# **The data and the measure.** A ring of 8 Gaussians of radius $2$ and a grid of 25 (standard
# deviations $0.02$ and $0.05$), the benchmarks of VEEGAN (Srivastava et al. 2017) and PacGAN
# (Lin et al. 2018). From 2,500 generated points they report:
# * **modes captured**: modes with at least 20 *high-quality* samples;
# * **% high quality**: samples within 3 standard deviations of their nearest mode (a perfect
#   sampler scores $1 - e^{-9/2}$, just under 99 in a hundred, in 2D);
# * **KL** between the histogram of high-quality samples over the modes and the uniform
#   distribution (0 when all modes get an equal share).
#
# We call samples **sharp** when at least $80\%$ of them are high quality.
#
# ### ✎ Exercise 4: modes captured

# %% id="ex-modes-captured"
def modes_captured(samples: torch.Tensor, modes: torch.Tensor, std: float, threshold: float = 3.0,
                   min_count: int = 20) -> int:
    """How many modes have at least min_count samples within threshold·std of them (nearest mode)."""
    ### HINT: Find each sample's nearest mode and its distance, keep the samples within threshold standard deviations, and count the modes that keep at least min_count of them.
    ### HINT 2: Each sample belongs to its nearest mode only, and counts only if it lies within threshold standard deviations of it. Modes with no sample must still appear in the count (with zero).
    ### BEGIN SOLUTION
    distance, nearest = torch.cdist(samples, modes).min(dim=1)
    counts = torch.bincount(nearest[distance <= threshold * std], minlength=len(modes))
    return int((counts >= min_count).sum())
    ### END SOLUTION


# %% id="check-modes-captured" points=2 tags=["nbval-check-output"]
checks.check_modes_captured(modes_captured)

# %% [markdown]
# **The networks and the recipe.** A generator and a discriminator of three hidden layers of 128
# ReLU units; noise $z$ of 16 dimensions on the ring, and of 2 on the grid (with 16, none of our
# runs learned to spread over the grid at this budget); Adam with a learning rate of $10^{-3}$ and
# the betas of Gulrajani et al. ($0.5$, $0.9$), the rate falling linearly to $5\%$ of that over the
# second half of training; and a moving average of the generator's weights as the model we
# evaluate. The falling rate and the average both let the last steps settle instead of jitter,
# which sharpens the samples. The baseline and both remedies use the same recipe, seed and number of steps
# (`gan2d.RECIPE`, which lesson 05 uses too). Your `gan_step` is the algorithm; `gan2d.train_2d`
# only feeds it batches, keeps the weight average and takes snapshots for the explorer. The six runs
# are independent, so `gan2d.train_all` trains them side by side, a process per CPU core, each on
# one thread: networks this small are slowed by the cost of launching each operation rather than by
# arithmetic, so a second core does more good running a second network than sharing the first.
#
# **The remedy: let the discriminator judge several samples at once.** A collapsed generator's
# samples look real one by one; what gives it away is that they are too *alike*. PacGAN (Lin et al.
# 2018) lets the discriminator see that: it judges *packs* of $m$ samples, concatenated into one
# input, all real or all generated. Two samples drawn from the data almost always come from
# different modes; two samples of a collapsed generator come from the same one. Lin et al. prove
# that packing makes the divergence the discriminator estimates grow sharply with the mass a
# generator drops, so collapse is punished much harder than by a discriminator that sees one
# sample at a time. The change is a single wrapper around the same network (`gan2d.Packed`), and
# your `gan_step` does not change. As in the paper, the discriminator judges as many items per step
# as the baseline's, $N$ packs instead of $N$ samples, so each step draws $mN$ real points and $mN$
# noise vectors: the generator makes $m$ samples for every verdict, the price packing pays.
# (Minibatch discrimination, Salimans et al. 2016, and the minibatch standard deviation of Karras
# et al. 2018 are the same idea in another form: a feature of the whole batch.)
#
# **The second remedy: a discriminator that settles.** Section 3's alternating steps circled their
# equilibrium forever. Mescheder, Geiger & Nowozin (2018) show, on a one-parameter example, that
# unregularised GAN training can do the same near a good solution: the discriminator keeps a
# slope on the data and the generator overshoots it, again and again. Their fix penalises the
# slope of the discriminator's logit $\ell_\psi$ (so $D_\psi = \sigma(\ell_\psi)$) *on the real data*:
#
# $$
# R_1(\psi) = \frac{\gamma}{2}\, \mathbb{E}_{x \sim p_\text{data}} \big\| \nabla_x \ell_\psi(x) \big\|^2 ,
# \qquad \mathcal{L}_D \leftarrow \mathcal{L}_D + R_1 .
# $$
#
# Where the generator matches the data, the best discriminator is constant and the penalty is
# zero, so the equilibrium does not move; around it the penalty acts as friction. Their *Dirac GAN*
# makes section 3's game a GAN: the data is a point mass at $0$, the generator a point mass at
# $\theta$, and the discriminator's logit is linear, $\ell(t) = -y\,t$ (the sign makes $y$ section
# 3's maximising player, and $\theta$ its $x$). Near the equilibrium the losses behave like
# $\theta y / 2$, and the logit's slope on the data is $-y$, so $R_1 = \frac{\gamma}{2} y^2$: up to that
# factor $\frac{1}{2}$ (which rescales the step and doubles the penalty's effective weight),
# $\min_x \max_y xy$ becomes $\min_x \max_y xy - \frac{\gamma}{2} y^2$. Plain simultaneous gradient
# steps are now $x \leftarrow x - \eta y$, $y \leftarrow y + \eta (x - \gamma y)$: a linear map whose
# determinant is $1 - \eta\gamma + \eta^2$, and for $\gamma < 2$ its two eigenvalues are complex, with
# modulus $\sqrt{1 - \eta\gamma + \eta^2}$. With $\gamma = 0$ it is section 3's $\sqrt{1 + \eta^2}$; it
# is below 1 whenever $0 < \eta < \gamma$, and then the steps spiral *in* (the cell below plays it).
#
# That is an argument about plain gradient steps near an equilibrium, not about Adam on networks,
# and not about modes: whether the friction also keeps the generator on every mode is what the runs
# below measure. Your `gan_step` again stays as it is: `WithR1` hands it the discriminator's
# optimiser with the penalty's gradient added just before each step, which is the same as adding
# $R_1$ to the loss (gradients add up); the `loss_D` your step returns (and the history plots) is
# the plain loss, without the penalty. A non-packed discriminator judges one sample at a time, so
# this remedy also costs no extra samples; the price is a second backward pass through $D$ for
# $\nabla_x \ell_\psi$.

# %% id="lib-gan-2d-run"
RECIPE = gan2d.RECIPE if not fast_mode() else replace(gan2d.RECIPE, steps={"ring": 150, "grid": 150})
PACK = 2  # samples per pack: PacGAN2
GAMMA = 0.1  # the weight of the R1 penalty
METHODS = ("GAN", f"PacGAN{PACK}", "GAN + R1")


class WithR1:
    """The discriminator's optimiser, with the R1 penalty (gamma / 2) E ||grad_x l(x)||^2 (l: D's logit) on ``real``.

    ``gan_step`` calls ``zero_grad()``, backpropagates the discriminator's loss, then ``step()``:
    here ``step()`` first backpropagates the penalty on this batch of real points (its gradient adds
    to the loss's), then lets the optimiser step. Only these two methods are offered.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, D: nn.Module, real: torch.Tensor, gamma: float):
        self.optimizer, self.D, self.real, self.gamma = optimizer, D, real, gamma

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        x = self.real.detach().requires_grad_(True)
        logits = self.D(x)
        (grad_x,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        penalty = self.gamma / 2 * grad_x.pow(2).sum() / len(logits)  # the mean over the verdicts
        penalty.backward()
        self.optimizer.step()


def r1_step(gamma: float):
    """Your gan_step, with the discriminator's loss regularised by R1 of weight gamma."""
    def step(G, D, opt_G, opt_D, real, z):
        return gan_step(G, D, opt_G, WithR1(opt_D, D, real, gamma), real, z)
    return step


def run_2d(name: str, method: str = "GAN") -> gan2d.Run2D:
    """Train one of METHODS on a mixture with your gan_step; cached, with snapshots for the explorer."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    seed_everything(0)
    G = gan2d.mlp(RECIPE.z_dim[name], 2)
    D = gan2d.Packed(m=PACK) if method == f"PacGAN{PACK}" else gan2d.mlp(2, 1)
    step = r1_step(GAMMA) if method == "GAN + R1" else gan_step
    label = {"GAN": "GAN", f"PacGAN{PACK}": f"PacGAN{PACK}", "GAN + R1": f"R1-{GAMMA:g}"}[method]
    return gan2d.train_2d(name, step, G, D, RECIPE, label=label)


# %%
eta, n_steps = GAMMA / 2, 600  # a step below gamma, so the penalised steps spiral in
plain, damped = play(eta, n_steps, alternating=False), play(eta, n_steps, alternating=False, gamma=GAMMA)
say(f"""On section 3's game and its penalised version, {n_steps} simultaneous steps of η = {eta:g} take the distance to the
equilibrium from {np.hypot(*plain[0]):.2f} to {np.hypot(*plain[-1]):.2f} without the penalty (every step multiplies it by
exactly √(1 + η²) = {math.sqrt(1 + eta**2):.5f}), and to {np.hypot(*damped[-1]):.2f} with it (γ = {GAMMA:g}: the step's
eigenvalues have modulus √(1 − ηγ + η²) = {math.sqrt(1 - eta * GAMMA + eta**2):.5f}, so over many steps the distance
shrinks by about that factor per step).""")


# %%
# the six runs are independent: gan2d.train_all trains those not cached side by side, a process each
# (the longest first: the grid's, and the later methods, which cost more per step)
runs_2d = gan2d.train_all({(name, method): partial(run_2d, name, method) for name in ("ring", "grid")
                           for method in METHODS},
                          priority=lambda key: (RECIPE.steps[key[0]], METHODS.index(key[1])))
for (name, method), run in runs_2d.items():
    print(f"{name:4s} {method:10s} {run.coverage}   "
          f"(trained in {run.seconds:.1f} s{', loaded from the cache' if run.cached else ''})")

# %% [markdown]
# **The explorer.** Slide through training (or press play). Black points are data, orange points
# are generated from the same 1,000 noise vectors at every snapshot (the generator being trained,
# not its average). The background is $D(x)$: red where the discriminator says "real", blue where
# it says "fake". Watch the generator chase the red regions, and the discriminator turn each
# region blue once the generator's samples pile up on it.

# %%
ring = data.load("ring", n=2000, seed=0)
explorer = widgets.ModeCollapseExplorer(runs_2d[("ring", "GAN")].snapshots, ring.x, ring.extent,
                                        title="GAN on the ring")
explorer

# %%
fig, axes = plt.subplots(3, 4, figsize=(15, 11))
for row, method in enumerate(METHODS):
    snapshots = runs_2d[("ring", method)].snapshots
    for col, k in enumerate(np.linspace(0, len(snapshots) - 1, 4).astype(int)):
        viz.plot_2d(snapshots[k].samples, ring.x, ring.extent, field=snapshots[k].field, ax=axes[row, col],
                    title=f"{method}, step {snapshots[k].step}")
plt.suptitle(f"ring of 8 during training: the GAN (top), PacGAN{PACK} (middle), the GAN with R1 (bottom); "
             "same seed and recipe")
plt.tight_layout()
plt.show()

# %%
fig, axes = plt.subplots(2, 3, figsize=(12, 8))
for ax, (name, method) in zip(axes.flat, [(name, method) for name in ("ring", "grid") for method in METHODS]):
    run = runs_2d[(name, method)]
    mixture = data.load(name, n=2500, seed=5)
    c = run.coverage
    viz.plot_2d(run.samples, mixture.x, mixture.extent, ax=ax,
                title=f"{name}, {method}\n{c.modes_captured}/{c.n_modes} modes, "
                      f"{100 * c.high_quality:.0f}% high quality")
plt.suptitle("2,500 samples of the averaged generator after training: which modes are covered?")
plt.tight_layout()
plt.show()

# %%
SHARP = 0.8  # the share of high-quality samples we call sharp (the markdown above section 4's exercise)


def coverage_sentence(run: gan2d.Run2D) -> str:
    c = run.coverage
    return f"{c.modes_captured} of {c.n_modes} modes, with {100 * c.high_quality:.0f}% of the samples high quality"


def remedy_sentence(name: str, what: str, gan: gan2d.Run2D, fix: gan2d.Run2D) -> str:
    """What a remedy did on one mixture, in words that hold for this run's numbers."""
    c = fix.coverage
    if c.modes_captured == c.n_modes and c.high_quality >= SHARP:
        return f"On the {name}, {what} covers every mode, sharply."
    if c.modes_captured == c.n_modes:
        return f"On the {name}, {what} covers every mode, but many samples lie between them."
    if c.modes_captured > gan.coverage.modes_captured:
        return f"On the {name}, {what} covers more modes than the GAN, but not all of them at this budget."
    return (f"On the {name}, {what} does not cover more modes than the GAN in this run: at this budget it is "
            "not a reliable remedy there.")


gan_ring, gan_grid = runs_2d[("ring", "GAN")], runs_2d[("grid", "GAN")]
pac_ring, pac_grid = runs_2d[("ring", f"PacGAN{PACK}")], runs_2d[("grid", f"PacGAN{PACK}")]
fix_ring, fix_grid = runs_2d[("ring", "GAN + R1")], runs_2d[("grid", "GAN + R1")]
collapsed = all(r.coverage.modes_captured < r.coverage.n_modes / 2 for r in (gan_ring, gan_grid))
blurred = [name for name, r in (("ring", gan_ring), ("grid", gan_grid)) if r.coverage.high_quality < SHARP]
if collapsed and not blurred:
    collapse_sentence = ("That is mode collapse as the decks draw it: most modes are missing, and the samples sit on "
                         "the few that are left. The explorer shows how the generator got there.")
elif collapsed:
    collapse_sentence = (f"Most modes are missing, but on the {' and the '.join(blurred)} the samples do not sit on "
                         "the few that are left: many lie between modes, a string of low-quality points rather "
                         "than the sharp collapse the decks draw. The explorer shows how the generator got there.")
else:
    collapse_sentence = ("On this seed the GAN kept at least half of the modes of one mixture; run other seeds "
                         "(COURSE_SEED) to see how often it collapses.")
say(f"""**What the numbers show** (this run). The GAN captures {coverage_sentence(gan_ring)} on the ring,
and {coverage_sentence(gan_grid)} on the grid.
{collapse_sentence}
Judging packs of {PACK}, the same networks capture {coverage_sentence(pac_ring)} on the ring, and
{coverage_sentence(pac_grid)} on the grid. {remedy_sentence("ring", "packing", gan_ring, pac_ring)}
{remedy_sentence("grid", "packing", gan_grid, pac_grid)}
With the R1 penalty (γ = {GAMMA:g}) and no packing, the GAN captures {coverage_sentence(fix_ring)} on the ring, and {coverage_sentence(fix_grid)} on the grid.
{remedy_sentence("ring", "the penalty", gan_ring, fix_ring)} {remedy_sentence("grid", "the penalty", gan_grid, fix_grid)}
`course bench --lesson 04_gan --seeds 0 1 2` runs every seed.
The published marks are in the bench: VEEGAN (Srivastava et al. 2017) reports a GAN capturing 1 of 8
and 3.3 of 25 modes, and PacGAN4 (Lin et al. 2018) 7.8 of 8 and 24.8 of 25, with far longer training.""")

# %% [markdown]

# ## 5. Instance noise: when the supports do not overlap
#
# Real images lie on a thin manifold, and so do generated ones. Two thin sets in a big space hardly
# ever overlap. Then a discriminator can separate them *perfectly*: $D = 1$ on the data, $0$ on the
# fakes, flat in between, and the generator's gradient is zero. **Instance noise** (Sønderby et al.
# 2017) adds Gaussian noise $\mathcal{N}(0, \sigma^2)$ to real and fake samples alike. The two
# blurred distributions overlap, so $D^*$ becomes smooth, and the gradient points from fakes to
# data. Below, data around $x = 2$ and fakes around $x = -1$: the optimal discriminator with and
# without noise, and then the gradients that each generator loss gives a fake at $g = -1$.

# %%
x_line = torch.linspace(-3.0, 4.0, 1401, dtype=torch.float64, requires_grad=True)


def blurred_uniform(x: torch.Tensor, low: float, high: float, sigma: float) -> torch.Tensor:
    """Density of U[low, high] + N(0, sigma²): (Φ((x − low)/σ) − Φ((x − high)/σ)) / (high − low)."""
    return (torch.special.ndtr((x - low) / sigma) - torch.special.ndtr((x - high) / sigma)) / (high - low)


fig, ax = plt.subplots(figsize=(6.5, 3.4))
ax.axvspan(1.8, 2.2, color="black", alpha=0.15, label="data: U[1.8, 2.2]")
ax.axvspan(-1.2, -0.8, color="tab:orange", alpha=0.25, label="fakes: U[−1.2, −0.8]")
for sigma in (0.01, 0.3, 1.0):
    p_real, p_fake = blurred_uniform(x_line, 1.8, 2.2, sigma), blurred_uniform(x_line, -1.2, -0.8, sigma)
    D_noisy = p_real / (p_real + p_fake).clamp_min(1e-300)
    slope, = torch.autograd.grad(D_noisy[x_line.detach().sub(-1.0).abs().argmin()], x_line)
    at_fakes = float(slope.abs().max())
    defined = (p_real + p_fake).detach() > 1e-300          # where neither distribution has mass, D* is undefined
    ax.plot(x_line.detach(), torch.where(defined, D_noisy.detach(), torch.nan), label=f"D* with noise σ = {sigma}: slope at the fakes {at_fakes:.1e}")
ax.set_xlabel("x")
ax.set_ylabel("D*(x)")
ax.set_title("instance noise gives D* a slope where the fakes are")
ax.legend(fontsize="x-small", loc="center left")
plt.show()

# %% tags=["nbval-check-output"]
def log_blurred_uniform(x: torch.Tensor, low: float, high: float, sigma: float) -> torch.Tensor:
    """log of blurred_uniform, exact far in the tails: log Φ(a) + log(1 − Φ(b)/Φ(a)), computed in log space."""
    log_a, log_b = torch.special.log_ndtr((x - low) / sigma), torch.special.log_ndtr((x - high) / sigma)
    return log_a + torch.log1p(-torch.exp(log_b - log_a)) - math.log(high - low)


print(f"{'noise σ':>8s} {'D*(g)':>10s} {'d/dg log(1 − D*)  (minimax)':>30s} {'d/dg −log D*  (non-saturating)':>32s}")
for sigma in (0.01, 0.3, 1.0):
    g = torch.tensor(-1.0, dtype=torch.float64, requires_grad=True)
    log_real, log_fake = log_blurred_uniform(g, 1.8, 2.2, sigma), log_blurred_uniform(g, -1.2, -0.8, sigma)
    log_d = log_real - torch.logaddexp(log_real, log_fake)                   # log D*(g)
    log_one_minus_d = log_fake - torch.logaddexp(log_real, log_fake)         # log(1 − D*(g))
    minimax, = torch.autograd.grad(log_one_minus_d, g, retain_graph=True)
    non_saturating, = torch.autograd.grad(-log_d, g)
    print(f"{sigma:8.2f} {log_d.exp().item():10.2e} {minimax.item():30.2e} {non_saturating.item():32.2e}")

# %% [markdown]
# With almost no noise, $D^*$ is 0 over the fakes and flat, and the two generator losses react in
# opposite ways (Arjovsky & Bottou 2017). The minimax loss $\log(1 - D^*)$ gets no gradient at all:
# $1 - D^*$ is 1 there whatever $g$ does. The non-saturating loss $-\log D^*$ gets an *enormous*
# one, because $\log D^*$ plunges as the fake moves away from the data: its direction is right, but
# its size is set by how far the blurred tails of two distributions reach, so it is huge, and in
# training, where $D$ is only near $D^*$, unstable. With noise comparable to the gap, $D^*$ ramps
# smoothly from the fakes up to the data, both gradients point the way with a moderate size, and
# they stay finite. In practice the noise is annealed to zero during training.
#
# ## 6. A DCGAN on digits
#
# The DCGAN recipe (Radford et al. 2016): transposed convolutions up from the noise, strided
# convolutions down in the discriminator, batch normalisation in the generator, LeakyReLU in the
# discriminator, Adam with $\beta_1 = 0.5$. Sized for the track's images (lesson 01, section 1): two
# stride-2 layers take a side of $H/4$ to $H/2$ to $H$ (2, 4, 8 on the digits; 7, 14, 28 on MNIST),
# and trained with your `gan_step`. It departs from the paper's guidelines in two places, on purpose: the discriminator
# has no batch normalisation (so the same network serves as lesson 05's critic, whose gradient
# penalty is computed per sample, which batch statistics would mix), and the generator ends in a
# sigmoid rather than a tanh, because our pixels lie in $[0, 1]$, not $[-1, 1]$.

# %% id="lib-dcgan-models"
Z_IMAGE = 16


class Generator(nn.Module):
    """z (and a one-hot class, if conditional) -> 128 x s x s -> 64 x 2s x 2s -> 1 x 4s x 4s in [0, 1], s = side / 4."""

    def __init__(self, z_dim: int = Z_IMAGE, n_classes: int = 0, side: int = 8):
        super().__init__()
        self.n_classes, self.s = n_classes, side // 4
        self.project = nn.Sequential(nn.Linear(z_dim + n_classes, 128 * self.s**2), nn.BatchNorm1d(128 * self.s**2),
                                     nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),   # s -> 2s
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Sigmoid(),                     # 2s -> 4s
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(conditioning(y, z, self.n_classes), self.n_classes).float()], dim=1)
        return self.up(self.project(z).view(-1, 128, self.s, self.s))


class Discriminator(nn.Module):
    """1 x side x side (plus the class as constant planes, if conditional) -> 64 x side/2 -> 128 x side/4 -> a logit."""

    def __init__(self, n_classes: int = 0, side: int = 8):
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Sequential(
            nn.Conv2d(1 + n_classes, 64, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(128 * (side // 4) ** 2, 1),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            planes = F.one_hot(conditioning(y, x, self.n_classes), self.n_classes).float()
            x = torch.cat([x, planes[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        return self.net(x)


def conditioning(y: torch.Tensor | None, batch: torch.Tensor, n_classes: int) -> torch.Tensor:
    """The labels a conditional network was given: one class per item of the batch, or a clear error."""
    if y is None or y.shape != batch.shape[:1]:
        raise ValueError(f"a conditional network needs the labels y of its batch, one of {n_classes} classes per item: "
                         f"call it as net(input, y) with y of shape ({len(batch)},), not {None if y is None else tuple(y.shape)}")
    return y


class GivenLabels(nn.Module):
    """A conditional network with the labels of one batch fixed: ``GivenLabels(G, y)(z) = G(z, y)``."""

    def __init__(self, net: nn.Module, y: torch.Tensor):
        super().__init__()
        self.net, self.y = net, y

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs, self.y)


def conditional_step(G, D, opt_G, opt_D, real, z, y):
    """gan_step for a conditional pair: both players see the labels y of this batch (and no other)."""
    return gan_step(GivenLabels(G, y), GivenLabels(D, y), opt_G, opt_D, real, z)


# %%
digits = data.track_images("train")
held_out = data.track_images("test")
SIDE = digits.shape[-1]  # 8 on the digits track, 28 on MNIST
print(digits, held_out, sep="\n")

# %% id="lib-dcgan-training"
DCGAN_STEPS = budget(3000, 30)


def trained_gan(conditional: bool):
    """The DCGAN (or the conditional DCGAN) of the images ``digits``, trained with gan_step on first use, then loaded."""
    def build() -> nn.Module:
        side = digits.shape[-1]
        return nn.ModuleDict({"G": Generator(n_classes=10 if conditional else 0, side=side),
                              "D": Discriminator(n_classes=10 if conditional else 0, side=side)})

    def fit(pair: nn.Module) -> train.History:
        G, D = pair["G"], pair["D"]
        opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        real_batches = train.batches(digits.x, digits.y, batch_size=64, seed=0)  # images with their labels
        noise = train.noise(64, Z_IMAGE, seed=1)

        def step(i: int) -> dict[str, float]:
            x, y = next(real_batches)
            if conditional:
                return conditional_step(G, D, opt_G, opt_D, x, next(noise), y)
            return gan_step(G, D, opt_G, opt_D, x, next(noise))

        history, _ = train.run_steps(step, DCGAN_STEPS, models=(G, D),
                                     desc="conditional DCGAN" if conditional else "DCGAN")
        return history

    config = {"conditional": conditional, "steps": DCGAN_STEPS, "z_dim": Z_IMAGE, "lr": 2e-4, "seed": 0,
              "data": [digits.name, len(digits), *digits.shape]}  # a checkpoint is for the data it trained on
    pair, history = train.load_or_train("04-dcgan", config, build=build, train=fit)
    return pair["G"].eval(), pair["D"].eval(), history


# %%
G_digits, D_digits, dcgan_history = trained_gan(conditional=False)
fig = viz.plot_losses(dcgan_history, title="DCGAN: both players' losses (means of 100 steps)")
plt.show()

z_grid = torch.randn(32, Z_IMAGE, generator=torch.Generator().manual_seed(7)).to(device)
with torch.no_grad():
    fakes = G_digits(z_grid).cpu()
# the nearest training image (in pixel distance) beside each sample: is the generator copying?
nearest = torch.cdist(fakes.flatten(1), digits.flat()).argmin(dim=1)
viz.show_rows({"generated": fakes[:12], "nearest training image": digits.x[nearest[:12]]},
              "DCGAN samples beside their nearest training digit (memorisation check)")
plt.show()
distance_fake = torch.cdist(fakes.flatten(1), digits.flat()).min(dim=1).values.mean()
distance_real = torch.cdist(held_out.flat()[:32], digits.flat()).min(dim=1).values.mean()
print(f"mean distance to the nearest training image: samples {distance_fake:.2f}, held-out real digits {distance_real:.2f}")

# %%
ratio = float(distance_fake / distance_real)
closeness = ("about as far from their nearest training image as" if 0.8 <= ratio <= 1.25 else
             "farther from their nearest training image than" if ratio > 1.25 else
             f"closer to their nearest training image (by a factor {1 / ratio:.1f}) than")
say(f"""**Memorisation check.** A generator that copied its training set would put each sample right on a training
image, at distance about 0. Our samples sit {closeness} *held-out real* digits do
({distance_fake:.2f} against {distance_real:.2f}): """ + (
    "new digits, not copies." if 0.8 <= ratio <= 1.25 else
    "not copies, but farther from every training image than real digits are: some samples are not quite digits "
    "(section 8 scores how far)." if ratio > 1.25 else
    "closer than new digits would be, though not on top of them: look at the pairs above for near-copies."))

# %% [markdown]
# **Interpolation in $z$**, with lesson 02's widget, the generator in place of the decoder and prior
# samples in place of encodings:

# %%
interpolation = widgets.Interpolation(G_digits, z_grid.cpu(), steps=9, start=0, end=1)
interpolation

# %% [markdown]
# ## 7. A class-conditional GAN, and pix2pix
#
# Give both players the label $y$: $G(z, y)$ must produce a digit of class $y$, and $D(x, y)$ judges
# whether $x$ is a *real example of class* $y$ (Mirza & Osindero 2014). Here $G$ reads a one-hot
# $y$ beside $z$, and $D$ reads it as ten constant image planes beside the pixels. Both take $y$ as an
# argument, `G(z, y)` and `D(x, y)`, and fail loudly without it; `conditional_step` fixes the batch's
# labels on both (`GivenLabels`) and calls your `gan_step` unchanged.
#
# **pix2pix** (Isola et al. 2017) conditions on an *image* instead of a label: $G$ translates an
# input image $s$ (an edge map, a segmentation) into an output $x$, and $D(s, x)$ judges the pair.
# Its generator minimises the conditional adversarial loss **plus an L1 term** to the paired target,
#
# $$
# \mathcal{L}_G = \mathbb{E}\big[-\log D(s, G(s))\big] + \lambda\, \mathbb{E}\big[\lVert x - G(s) \rVert_1\big],
# $$
#
# The L1 term gets the content right, and the adversarial term makes it sharp. Lesson 06 builds it.

# %%
G_conditional, _, _ = trained_gan(conditional=True)
per_class = 8
labels = torch.arange(10).repeat_interleave(per_class).to(device)
with torch.no_grad():
    asked = G_conditional(torch.randn(len(labels), Z_IMAGE, generator=torch.Generator().manual_seed(3)).to(device),
                          labels).cpu()
viz.show_images(asked, "conditional DCGAN: each row asks for one digit (0 to 9)", nrow=per_class)
plt.show()

# %% [markdown]
# ## 8. Evaluation with a classifier
#
# With no likelihood, GANs are judged on their samples, through a classifier's eyes:
# * the **inception score** $\exp\big(\mathbb{E}_x \mathrm{KL}(p(y \mid x) \,\|\, p(y))\big)$ (Salimans et al.
#   2016) is high when each sample is classified confidently and the classes are balanced
#   (at most 10 here). The expectation over samples $x$ sits *inside* the exponential: some slides
#   write $\exp \mathrm{KL}(p(y \mid x) \,\|\, p(y))$ for a single $x$, which is not the score;
# * the **Fréchet distance** (Heusel et al. 2017) fits Gaussians to the classifier's features of
#   generated and of real images, and measures $\lVert\mu_1 - \mu_2\rVert^2 + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}\big)$.
#   Lower is better.
#
# The classic versions use an Inception network trained on ImageNet. For these small images the
# course trains its own small classifier on the track's training images (`metrics.track_classifier`;
# its held-out accuracy is printed below).
# **The numbers mean something only next to numbers from the same classifier, the same number of
# samples and the same reference set.** A different classifier gives a different scale. So we
# always print real held-out digits beside the generators.

# %%
classifier = metrics.track_classifier(digits)
with torch.no_grad():
    print(f"the digit classifier's held-out accuracy: {(classifier.cpu()(held_out.x).argmax(1) == held_out.y).float().mean():.1%}")
n_eval = budget(len(held_out), 100)
reference = held_out.x[:n_eval]
with torch.no_grad():
    conditional_samples = G_conditional(torch.randn(n_eval, Z_IMAGE, generator=torch.Generator().manual_seed(11)).to(device),
                                        torch.arange(n_eval).remainder(10).to(device)).cpu()
    dcgan_samples = G_digits(torch.randn(n_eval, Z_IMAGE, generator=torch.Generator().manual_seed(11)).to(device)).cpu()
    real_other = digits.x[torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))[:n_eval]]
scores = {
    "real training digits": metrics.classifier_scores(real_other, reference, classifier),
    "DCGAN": metrics.classifier_scores(dcgan_samples, reference, classifier),
    "conditional DCGAN": metrics.classifier_scores(conditional_samples, reference, classifier),
    "uniform noise": metrics.classifier_scores(torch.rand(n_eval, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0)),
                                               reference, classifier),
}
print(f"{'':22s} {'inception score':>16s} {'Fréchet distance':>18s}   (against {n_eval} held-out digits)")
for name, s in scores.items():
    print(f"{name:22s} {s['inception_score']:16.2f} {s['frechet_distance']:18.2f}")

# %% [markdown]
# ### ✎ Graded: what your DCGAN learned
# Besides the check cells, the grader scores the DCGAN generator of section 6, trained with your
# `gan_step` in the lecture configuration (not in fast mode). The next cell saves its weights to
# `04_gan.weights.pt` beside this notebook: hand that file in with the notebook. The grader loads it
# into its own copy of `Generator()`, draws 1,000 samples and measures their Fréchet distance, on
# the same classifier, to 90 digits that this notebook never loads (kept aside from the held-out
# fifth for grading): full marks at $80$ or less, none at $200$ or more, in proportion between. The
# DCGAN row above, against the other held-out digits, is a preview; the grader's figure differs by
# sampling (1,000 samples against 90 digits, where the row above sets equal numbers side by side).
# The grader scores the digits track only: a run on the MNIST track saves its generator to
# `04_gan.mnist.weights.pt` and leaves `04_gan.weights.pt` alone.

# %%
train.save_weights(G_digits, "04_gan");

# %% id="check-trained-gan" points=4 tags=["nbval-check-output"]
checks.check_trained(Generator)

# %% [markdown]
# ## 9. Summary
#
# * A GAN is trained by a game: $D$ learns $D^* = p_\text{data}/(p_\text{data} + p_G)$, and then
#   $G$ minimises $2\,\mathrm{JSD} - 2 \log 2$. Use the non-saturating generator loss.
# * Games do not converge like losses do: gradient play circles or spirals around equilibria.
# * Mode collapse is measurable (modes captured, % high quality, KL). It can be fought by letting
#   $D$ judge packs of samples, or by making the game settle: the R1 penalty on the slope of $D$'s
#   logit at the data. Instance noise helps when supports do not overlap.
# * Without a likelihood, samples are scored by a classifier, and only comparably with the same one.
#
# **✎ Question.** Why does the Jensen-Shannon divergence give the generator no useful signal when
# $p_\text{data}$ and $p_G$ have disjoint supports? (Lesson 05 starts here.)

# %% [markdown] id="answer-disjoint" points=2
# ### BEGIN SOLUTION
# With disjoint supports, JSD is log 2 whatever the distance between them, so it is constant in
# the generator's parameters and its gradient is zero; the optimal discriminator is 1 on the data
# and 0 on the fakes, flat around both, so the generator gets no direction to move in.
# ### END SOLUTION

# %%
metrics_04 = {}
for (name, method), run in runs_2d.items():
    metrics_04.update(run.metrics(f"{name}_{ {'GAN': 'gan', f'PacGAN{PACK}': 'pacgan', 'GAN + R1': 'remedy'}[method]}"))
for name, key in (("real training digits", "real"), ("DCGAN", "dcgan"), ("conditional DCGAN", "conditional")):
    metrics_04[f"{key}_inception_score"] = scores[name]["inception_score"]
    metrics_04[f"{key}_frechet"] = scores[name]["frechet_distance"]
summary = (f"ring GAN {metrics_04['ring_gan_modes']}/8 ({metrics_04['ring_gan_hq']:.0f}% HQ), PacGAN{PACK} "
           f"{metrics_04['ring_pacgan_modes']}/8 ({metrics_04['ring_pacgan_hq']:.0f}%), R1 "
           f"{metrics_04['ring_remedy_modes']}/8 ({metrics_04['ring_remedy_hq']:.0f}%); grid {metrics_04['grid_gan_modes']}/25 "
           f"({metrics_04['grid_gan_hq']:.0f}%), {metrics_04['grid_pacgan_modes']}/25 ({metrics_04['grid_pacgan_hq']:.0f}%), "
           f"{metrics_04['grid_remedy_modes']}/25 ({metrics_04['grid_remedy_hq']:.0f}%); "
           f"DCGAN IS {metrics_04['dcgan_inception_score']:.2f} FD {metrics_04['dcgan_frechet']:.1f} "
           f"(real {metrics_04['real_inception_score']:.2f} / {metrics_04['real_frechet']:.1f})")
record("04_gan", metrics_04, summary);
