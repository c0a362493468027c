# %% [markdown]
# # Lesson 05 · Wasserstein GANs
#
# **Where lesson 04 left us.** With a perfect discriminator the generator minimises a
# Jensen-Shannon divergence. Training was fragile, dropped modes, and needed tricks.
#
# **The idea.** Change the *distance*. The Wasserstein-1 distance (the earth mover's distance) is
# the cost of the cheapest way to move the mass of one distribution onto the other. It keeps
# shrinking smoothly as two distributions approach each other, even when they do not overlap
# (Arjovsky, Chintala & Bottou 2017).
#
# In this lesson you will
# 1. see, on two parallel lines, why JS gives no gradient and W does;
# 2. solve the transport problem exactly for small distributions, and in closed form in 1D;
# 3. meet the critic of Kantorovich-Rubinstein duality and the WGAN losses;
# 4. enforce the Lipschitz constraint by weight clipping and by a gradient penalty;
# 5. compare gradient fields, and coverage on lesson 04's ring and grid;
# 6. train WGAN-GP on digits and score it as in lesson 04.

# %%
import math
from dataclasses import replace
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linprog
from torch import nn

from course_utils import budget, fast_mode, generator, get_device, hint, seed_everything
from course_utils import data, gan2d, metrics, train, viz, widgets
from course_utils.checks import wgan as checks
from course_utils.results import record, say

device = get_device()
seed_everything(0)
print(f"device: {device}; fast mode: {fast_mode()}")

# %% [markdown]
# ## 1. Why Jensen-Shannon fails: two parallel lines
#
# Let $Z \sim U[0, 1]$, let $P_0$ be the distribution of $(0, Z)$ (a vertical segment at $x = 0$),
# and let $P_\theta$ be that of $(\theta, Z)$, the same segment moved to $x = \theta$. For $\theta \ne 0$
# the two have **disjoint supports**, and
#
# | distance | value | as a function of $\theta$ |
# | --- | --- | --- |
# | $\mathrm{JS}(P_0, P_\theta)$ | $\log 2$ | constant: zero gradient |
# | $\mathrm{KL}(P_0 \,\|\, P_\theta)$ | $+\infty$ | undefined |
# | total variation | 1 | constant |
# | $W(P_0, P_\theta)$ | $\lvert\theta\rvert$ | continuous, gradient $\pm 1$ everywhere |
#
# Only $W$ tells a generator with parameter $\theta$ which way to move. We can check JS numerically
# on a discretised version of the two segments.

# %%
def segment(theta: float, bins: int = 401, extent: float = 2.0) -> torch.Tensor:
    """P_theta discretised on a grid of x positions (the y coordinate is the same uniform for both)."""
    xs = torch.linspace(-extent, extent, bins, dtype=torch.float64)
    p = torch.zeros(bins, dtype=torch.float64)
    p[(xs - theta).abs().argmin()] = 1.0
    return p


def js(p: torch.Tensor, q: torch.Tensor) -> float:
    m = (p + q) / 2
    kl = lambda a, b: float(torch.where(a > 0, a * (a / b).log(), torch.zeros_like(a)).sum())  # noqa: E731
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


thetas = np.linspace(-1, 1, 81)
js_values = [js(segment(0.0), segment(t)) for t in thetas]
w_values = np.abs(thetas)
kl_values = [0.0 if abs(t) < 1e-9 else np.inf for t in thetas]
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(thetas, js_values, label="JS (computed on the grid)")
ax.plot(thetas, w_values, label="W = |θ|")
ax.plot(thetas, np.where(np.isinf(kl_values), 1.45, kl_values), ls=":", label="KL (= ∞ off θ = 0, drawn at the top)")
ax.axhline(math.log(2), color="grey", lw=0.8, ls="--")
ax.set_ylim(-0.05, 1.5)
ax.set_xlabel("θ (position of the generated line)")
ax.set_ylabel("distance")
ax.set_title("parallel lines: JS is flat at log 2, W = |θ|")
ax.legend(fontsize="small")
plt.show()
print(f"JS at θ = 0.5 and θ = 0.05: {js(segment(0.0), segment(0.5)):.4f}, {js(segment(0.0), segment(0.05)):.4f}"
      f"  (log 2 = {math.log(2):.4f})")

# %% [markdown]
# ## 2. The earth mover's distance as a transport problem
#
# For distributions $p$ on points $x_i$ and $q$ on points $y_j$, a **transport plan** $\gamma_{ij} \ge 0$
# moves mass $\gamma_{ij}$ from $x_i$ to $y_j$. Its rows must sum to $p$ and its columns to $q$.
# Its cost is $\sum_{ij} \gamma_{ij} \lvert x_i - y_j \rvert$, and
#
# $$
# W(p, q) = \min_{\gamma \ge 0,\; \gamma \mathbf 1 = p,\; \gamma^\top \mathbf 1 = q} \; \sum_{ij} \gamma_{ij}\, \lvert x_i - y_j\rvert ,
# $$
#
# a **linear program**. We solve it exactly with `scipy.optimize.linprog` and draw the plan.

# %%
positions = np.arange(6, dtype=float)
p_hist = np.array([0.30, 0.25, 0.20, 0.15, 0.10, 0.00])
q_hist = np.array([0.00, 0.05, 0.10, 0.15, 0.30, 0.40])
cost = np.abs(positions[:, None] - positions[None, :])
n = len(positions)
rows = np.kron(np.eye(n), np.ones(n))          # Σ_j γ_ij = p_i
cols = np.kron(np.ones(n), np.eye(n))          # Σ_i γ_ij = q_j
solution = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([p_hist, q_hist]),
                   bounds=(0, None), method="highs")
plan = solution.x.reshape(n, n)
W_lp = float(solution.fun)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].bar(positions - 0.18, p_hist, width=0.36, label="p (source)")
axes[0].bar(positions + 0.18, q_hist, width=0.36, label="q (target)")
for i in range(n):
    for j in range(n):
        if plan[i, j] > 1e-9 and i != j:
            axes[0].annotate("", xy=(positions[j], 0.42), xytext=(positions[i], 0.42),
                             arrowprops=dict(arrowstyle="->", lw=0.5 + 12 * plan[i, j], color="tab:green", alpha=0.7,
                                             connectionstyle="arc3,rad=-0.3"))
axes[0].set_ylim(0, 0.6)
axes[0].set_xlabel("position")
axes[0].set_ylabel("mass")
axes[0].set_title("two histograms; arrows: mass moved by the optimal plan")
axes[0].legend(fontsize="small", loc="upper left")
image = axes[1].imshow(plan, cmap="Greens")
fig.colorbar(image, ax=axes[1], label="mass moved")
axes[1].set_xlabel("to position j")
axes[1].set_ylabel("from position i")
axes[1].set_title(f"the optimal plan γ (cost W = {W_lp:.3f})")
plt.tight_layout()
plt.show()

# %% [markdown]
# **In 1D there is a closed form.** The optimal plan never crosses: mass moves in order. So $W$ is the
# area between the two cumulative distribution functions,
# $W(p, q) = \int \lvert F_p(t) - F_q(t) \rvert\, dt$. For two samples of equal size it is the mean
# distance between their *sorted* values.
#
# ### ✎ Exercise 1: the 1D earth mover's distance between samples

# %% id="ex-wasserstein-1d"
def wasserstein_1d(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """W1 between two 1D samples of the same size: mean |sorted u − sorted v|."""
    ### HINT: In 1D the optimal plan pairs the k-th smallest value of u with the k-th smallest value of v.
    ### HINT 2: The optimal plan in 1D pairs values in sorted order; W1 is the average distance between partners, not the distance between the means.
    ### BEGIN SOLUTION
    return (torch.sort(u).values - torch.sort(v).values).abs().mean()
    ### END SOLUTION


# %% id="check-wasserstein-1d" points=2 tags=["nbval-check-output"]
checks.check_wasserstein_1d(wasserstein_1d)

# %%
W_cdf = float(np.abs(np.cumsum(p_hist) - np.cumsum(q_hist)).sum())   # unit spacing between positions
samples_p = torch.from_numpy(np.repeat(positions, (p_hist * 1000).round().astype(int)))
samples_q = torch.from_numpy(np.repeat(positions, (q_hist * 1000).round().astype(int)))
print(f"linear program: {W_lp:.4f}   CDF formula: {W_cdf:.4f}   sorted samples (1,000 each): "
      f"{wasserstein_1d(samples_p, samples_q).item():.4f}")

# %% [markdown]
# ## 3. Kantorovich-Rubinstein duality: a critic instead of a discriminator
#
# The transport problem is intractable in high dimensions, but its dual is something a network can learn:
#
# $$
# W(p, q) = \sup_{\lVert f \rVert_L \le 1} \; \mathbb{E}_{x \sim p}[f(x)] - \mathbb{E}_{x \sim q}[f(x)] ,
# $$
#
# a supremum over all **1-Lipschitz** functions $f$ ($\lvert f(a) - f(b) \rvert \le \lVert a - b \rVert$). A
# network $f_w$, the **critic**, approximates the best $f$. Unlike a discriminator it outputs an
# unbounded score with no sigmoid, and its training maximises the gap between real and generated
# scores. The WGAN losses, both minimised:
#
# $$
# L_\text{critic} = \mathbb{E}_{z}[f_w(G(z))] - \mathbb{E}_{x}[f_w(x)], \qquad L_G = -\mathbb{E}_{z}[f_w(G(z))].
# $$
#
# The critic should be near its optimum before each generator step, so WGAN takes
# $n_\text{critic} = 5$ critic steps per generator step. And $-L_\text{critic}$ is an estimate of $W$
# that we can watch during training.
#
# ### ✎ Exercise 2: the WGAN losses

# %% id="ex-critic-losses"
def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[f(fake)] − E[f(real)]: minimising it widens the gap between real and fake scores."""
    ### HINT: The gap between the critic's average scores, fakes minus reals; no log and no sigmoid.
    ### HINT 2: The critic wants real scores high and fake scores low, and an optimiser minimises: the loss is the gap in the direction the critic wants to shrink.
    ### BEGIN SOLUTION
    return fake_scores.mean() - real_scores.mean()
    ### END SOLUTION


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """−E[f(G(z))]: the generator raises the critic's score of its samples."""
    ### HINT: The generator wants the critic to score its samples high.
    ### HINT 2: The generator wants the critic to score its samples high; the optimiser minimises.
    ### BEGIN SOLUTION
    return -fake_scores.mean()
    ### END SOLUTION


# %% id="check-critic-losses" points=2 tags=["nbval-check-output"]
checks.check_critic_losses(critic_loss, wgan_generator_loss)

# %% [markdown]
# ## 4. Keeping the critic Lipschitz
#
# Without a constraint the critic can make the gap infinite. Two ways to constrain it:
#
# **Weight clipping** (Arjovsky et al. 2017): after each critic step, clamp every weight to $[-c, c]$.
# The network is then $K$-Lipschitz for some $K$ that depends on $c$: $W$ is estimated up to
# that factor. A small $c$ leaves the critic little capacity. It can only make simple, almost
# linear functions, and its gradients vanish. A large $c$ makes the constraint loose and training
# slow to settle.
#
# ### ✎ Exercise 3: clipping

# %% id="ex-clip-weights"
def clip_weights(critic: nn.Module, c: float) -> None:
    """Clamp every parameter of the critic to [−c, c], in place."""
    ### HINT: Change every parameter in place, outside the autograd graph, so that each value stays within [-c, c].
    ### HINT 2: The constraint is a box on every parameter, biases included. Change the values in place, outside autograd; building new tensors would cut the parameters from the optimiser.
    ### BEGIN SOLUTION
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)
    ### END SOLUTION


# %% id="check-clip-weights" points=2 tags=["nbval-check-output"]
checks.check_clip_weights(clip_weights)

# %% [markdown]
# **The gradient penalty** (Gulrajani et al. 2017): a differentiable function is 1-Lipschitz if and
# only if its gradient norm is at most 1 everywhere, and the optimal critic has gradient norm
# exactly 1 on the segments between coupled real and generated points. So penalise deviations
# from 1 at random points $\hat x = t x + (1 - t) \tilde x$ on segments between real $x$ and
# generated $\tilde x$, with $t \sim U[0, 1]$ drawn once per sample:
#
# $$
# L_\text{critic}^\text{GP} = \mathbb{E}[f_w(\tilde x)] - \mathbb{E}[f_w(x)] + \lambda\, \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} f_w(\hat x) \rVert_2 - 1)^2\big], \qquad \lambda = 10 .
# $$
#
# The penalty contains a gradient, so the critic's update differentiates through it: use
# `torch.autograd.grad(..., create_graph=True)`.
#
# ### ✎ Exercise 4: the gradient penalty

# %% id="ex-gradient-penalty"
def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(||∇f(x̂)|| − 1)²] at x̂ = t·real + (1 − t)·fake, t ~ U[0, 1] once per sample."""
    ### HINT: One mixing weight per sample, broadcast over its other dimensions; points between real and fake that require gradients; the critic's gradient there, kept in the graph so the penalty can be trained; the squared distance of its norm from 1, averaged.
    ### HINT 2: Three pitfalls: one mixing weight per sample (not per coordinate), created on the data's device; the points between real and fake must require gradients before the critic sees them; and the gradient must keep its graph, or the penalty cannot train the critic.
    ### BEGIN SOLUTION
    t = torch.rand(len(real), *[1] * (real.dim() - 1), device=real.device)
    x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    ### END SOLUTION


# %% id="check-gradient-penalty" points=3 tags=["nbval-check-output"]
checks.check_gradient_penalty(gradient_penalty)

# %% [markdown]
# **Does the critic estimate W?** Between two 1D Gaussians with the same spread, $W$ is the
# distance between their means: $W(\mathcal{N}(0, 1), \mathcal{N}(2, 1)) = 2$. Train a critic to
# convergence with each constraint and read $\mathbb{E}_p f - \mathbb{E}_q f$. Clipping also
# prints the largest slope of the learnt function.

# %%
def critic_net(d_in: int = 1, hidden: int = 64) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def fit_critic(constraint: str, value: float, steps: int) -> tuple[float, float]:
    """Train a critic between N(0, 1) and N(2, 1); return its estimate of W and its largest slope."""
    seed_everything(0)
    critic = critic_net()
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3 if constraint == "gp" else 5e-3)
    p, q = torch.distributions.Normal(2.0, 1.0), torch.distributions.Normal(0.0, 1.0)
    for _ in range(steps):
        real, fake = p.sample((256, 1)), q.sample((256, 1))
        loss = critic_loss(critic(real), critic(fake))
        if constraint == "gp":
            loss = loss + value * gradient_penalty(critic, real, fake)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if constraint == "clip":
            clip_weights(critic, value)
    xs = torch.linspace(-3, 5, 801).unsqueeze(1).requires_grad_(True)
    slope, = torch.autograd.grad(critic(xs).sum(), xs)
    with torch.no_grad():
        estimate = (critic(p.sample((50_000, 1))).mean() - critic(q.sample((50_000, 1))).mean()).item()
    return estimate, float(slope.abs().max())


critic_steps = budget(1500, 50)
rows = train.cached(  # a second run of the lesson loads these numbers instead of training four critics again
    "05-critics-1d", {"steps": critic_steps, "code": train.code_fingerprint(critic_loss, gradient_penalty, clip_weights,
                                                                             fit_critic)},
    lambda: [("gradient penalty, λ = 10", *fit_critic("gp", 10.0, critic_steps))]
    + [(f"weight clipping, c = {c}", *fit_critic("clip", c, critic_steps)) for c in (0.01, 0.1, 1.0)])
print(f"{'critic':28s} {'E_p f − E_q f':>14s} {'max |f′|':>9s}   (true W = 2)")
for name, estimate, slope in rows:
    print(f"{name:28s} {estimate:14.3f} {slope:9.3f}")

# %% [markdown]
# **What the numbers show.** The gradient-penalty critic estimates $W \approx 2$ with slope about 1:
# a 1-Lipschitz function, as the duality requires. A clipped critic with $c = 0.01$ is far too weak:
# its slope and its estimate are tiny, and its gradients for the generator tiny too. With larger
# $c$ the estimate grows. A clipped network is $K$-Lipschitz for some $K$ fixed by $c$ and the
# architecture, and clipped networks are only a *subset* of the $K$-Lipschitz functions, so the
# estimate is at most $K \cdot W$, no longer $W$ itself. Clipping
# ties the critic's scale, and its gradients, to a hyperparameter. The penalty ties them to the
# definition.
#
# ## 5. Clean gradients: a saturated discriminator against a critic
#
# Fix the data (lesson 04's ring) and a blob of generated points in the middle. Train a GAN
# discriminator and a WGAN-GP critic to convergence, and draw the direction in which each would
# push a generated point: $-\nabla_x \log(1 - D(x))$ for the GAN's minimax loss (drawn), and
# $-\nabla_x(-\log D(x))$ for its non-saturating loss (measured below the figure), against
# $\nabla_x f(x)$ for the critic.

# %%
ring = data.load("ring", n=4000, seed=0)
blob = 0.3 * torch.randn(4000, 2, generator=generator(1))
seed_everything(0)
discriminator, critic = critic_net(2, 128), critic_net(2, 128)


def fit_field_models() -> dict:
    """Train the discriminator and the critic against the fixed blob; their weights (cached)."""
    opt_D, opt_C = torch.optim.Adam(discriminator.parameters(), lr=1e-3), torch.optim.Adam(critic.parameters(), lr=1e-3)
    for _ in range(budget(1500, 50)):
        idx = torch.randint(4000, (256,))
        real, fake = ring.x[idx], blob[idx]
        loss_D = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake)).mean()
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_C = critic_loss(critic(real), critic(fake)) + 10 * gradient_penalty(critic, real, fake)
        opt_C.zero_grad()
        loss_C.backward()
        opt_C.step()
    return {"D": discriminator.state_dict(), "C": critic.state_dict()}


trained_fields = train.cached("05-fields", {"steps": budget(1500, 50), "code": train.code_fingerprint(
    critic_loss, gradient_penalty, fit_field_models)}, fit_field_models)
discriminator.load_state_dict(trained_fields["D"])
critic.load_state_dict(trained_fields["C"])

ticks = torch.linspace(-2.6, 2.6, 21)
grid_y, grid_x = torch.meshgrid(ticks, ticks, indexing="ij")
points = torch.stack([grid_x.flatten(), grid_y.flatten()], 1).requires_grad_(True)
push_gan, = torch.autograd.grad(F.softplus(discriminator(points)).sum(), points)     # −∇ log(1 − D): minimax loss
push_ns, = torch.autograd.grad(-F.softplus(-discriminator(points)).sum(), points)     # −∇(−log D): non-saturating
push_wgan, = torch.autograd.grad(critic(points).sum(), points)                        # ∇f
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
for ax, push, title in ((axes[0], push_gan, "GAN (minimax loss): −∇ log(1 − D(x)), D saturated"),
                        (axes[1], push_wgan, "WGAN-GP: ∇f(x), critic trained to convergence")):
    ax.scatter(ring.x[:800, 0], ring.x[:800, 1], s=4, color="black", alpha=0.4, label="data")
    ax.scatter(blob[:400, 0], blob[:400, 1], s=4, color="tab:orange", alpha=0.5, label="generated")
    norms = push.norm(dim=1)
    ax.quiver(points[:, 0].detach(), points[:, 1].detach(), push[:, 0], push[:, 1], norms, cmap="viridis",
              angles="xy", scale_units="xy", scale=float(norms.max()) * 6 + 1e-12)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize="small")
plt.show()
at_fakes = (points.detach().norm(dim=1) < 0.6)
print(f"mean push at the generated points: GAN minimax loss {push_gan[at_fakes].norm(dim=1).mean():.2e}, "
      f"GAN non-saturating loss {push_ns[at_fakes].norm(dim=1).mean():.2f}, WGAN-GP {push_wgan[at_fakes].norm(dim=1).mean():.2f}")
at_ring = (points.detach().norm(dim=1) - 2).abs() < 0.3
print(f"mean push near the ring:           GAN non-saturating loss {push_ns[at_ring].norm(dim=1).mean():.2e}, "
      f"WGAN-GP {push_wgan[at_ring].norm(dim=1).mean():.2f}")

# %% [markdown]
# **What the arrows show.** With the original minimax loss, the saturated discriminator's push
# vanishes exactly where the generated points are: $D \approx 0$ there, and $\log(1 - D)$ is flat.
# The non-saturating loss restores a large push at the fakes (printed above), but its size follows
# the discriminator's logit, which grows without bound as $D$ saturates, and it fades near the data. The critic's
# arrows have norm close to 1 everywhere, as a 1-Lipschitz function's should, and they point from
# the blob outward to the ring, toward all of its modes at once.
#
# ## 6. Coverage on the ring and the grid: GAN, WGAN-clip, WGAN-GP
#
# Lesson 04's experiment: the same networks (three hidden layers of 128 units, for generator and
# critic alike), noise, batch, generator steps, averaged generator and seeds (`gan2d.RECIPE`). The
# GAN row *is* lesson 04's baseline, trained by the library's copy of the non-saturating step
# (`gan2d.gan_step`), so it prints lesson 04's numbers; when lesson 04 has run, its cached runs are
# loaded, because the library checks that the two steps compute the same update. The WGANs take $n_\text{critic}$ critic
# steps per generator step, each on a fresh batch, so they cost more time: the wall time is printed
# beside each result (the time of its own process: `gan2d.train_all` trains the runs side by side, a
# process per CPU core, as in lesson 04). The explorer shows the critic's values behind the samples.
#
# **A note on λ.** Gulrajani et al. use $\lambda = 10$ on images. The right weight depends on the
# scale of the data, and their released toy code uses $\lambda = 0.1$ for these mixtures
# (`gan_toy.py` in the paper's repository, "smaller lambda seems to help for toy tasks"). Here
# $\lambda = 0.1$ as well. The digits in section 7 use the paper's $\lambda = 10$.

# **The training step.** Arjovsky et al.'s Algorithm 1 trains the critic $n_\text{critic}$ times for
# each generator step, so that the generator always learns from a critic close to its optimum, the
# one whose estimate is $W$. Each critic step draws its own batch of real data and of noise:
# `gan2d.train_2d` hands the step $n_\text{critic}$ batches at once, one after the other along the
# batch axis ($n_\text{critic} \cdot N$ rows), for the step to split into $n_\text{critic}$ slices.
# A critic step minimises $L_\text{critic}$ (with the penalty, or followed by clipping), with the
# generated points treated as data: the critic's update must not move the generator. Its estimate
# of $W$ is read from the same scores its loss uses, before its update. Then the
# generator takes one step on $-\mathbb{E}[f_w(g_\theta(z))]$ against the critic just trained. The
# step returns the last critic step's estimate $\mathbb{E}[f_w(x)] - \mathbb{E}[f_w(\tilde x)]$
# of $W$ (without the penalty), which section 7 draws as a training curve.
#
# ### ✎ Exercise 5: the WGAN training step

# %% id="ex-wgan-step"
def wgan_step(n_critic: int, clip: float | None = None, penalty: float | None = None):
    """A WGAN step: n_critic critic steps (clipping after each, or a gradient penalty of weight `penalty`),
    then one generator step.

    The returned step(G, C, opt_G, opt_C, real, z) receives n_critic batches at once, one after the
    other along the first axis of `real` and `z`: it splits each into n_critic equal slices and
    gives each critic step its own slice of both. The generator step uses the last slice of noise.
    It returns
    {"W_estimate": float, "loss_G": float}: the last critic step's E f(real) - E f(fake), and the
    generator's loss.
    """
    def step(G: nn.Module, C: nn.Module, opt_G: torch.optim.Optimizer, opt_C: torch.optim.Optimizer,
             real: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
        ### HINT: Loop over matching slices of the real batch and of the noise; in each critic step the generated points are data for the critic (no gradient flows back to G), its loss is your critic loss plus the weighted penalty when one is asked for, and clipping follows the update. Keep the estimate of W before the penalty. Then one generator step against the critic just trained. Reuse your functions from exercises 2-4.
        ### HINT 2: A tensor's chunk method cuts it into equal slices along the batch axis. Per critic step, the generated points are detached from G; the W estimate is the negative of the critic loss before the penalty is added, as a number; each optimiser clears its gradients before its own backward pass; clipping follows the optimiser's step. The generator's step scores G of the last noise slice with the critic as it is after its last update.
        ### BEGIN SOLUTION
        reals, zs = real.chunk(n_critic), z.chunk(n_critic)
        for batch, z_k in zip(reals, zs):
            fake = G(z_k).detach()
            loss_C = critic_loss(C(batch), C(fake))
            w_estimate = -loss_C.item()
            if penalty:
                loss_C = loss_C + penalty * gradient_penalty(C, batch, fake)
            opt_C.zero_grad()
            loss_C.backward()
            opt_C.step()
            if clip:
                clip_weights(C, clip)
        loss_G = wgan_generator_loss(C(G(zs[-1])))
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
        return {"W_estimate": w_estimate, "loss_G": loss_G.item()}
        ### END SOLUTION
    return step


# %% id="check-wgan-step" points=10 tags=["nbval-check-output"]
checks.check_wgan_step(wgan_step)

# %%
RECIPE = gan2d.RECIPE if not fast_mode() else replace(gan2d.RECIPE, steps={"ring": 150, "grid": 150})
N_CRITIC = 2
LAMBDA_2D = 0.1
VARIANTS = ("GAN", "WGAN-clip", "WGAN-GP")


def run_2d(name: str, variant: str) -> gan2d.Run2D:
    seed_everything(0)
    G, D = gan2d.mlp(RECIPE.z_dim[name], 2), gan2d.mlp(2, 1)
    if variant == "GAN":  # lesson 04's baseline, exactly
        return gan2d.train_2d(name, gan2d.gan_step, G, D, RECIPE, label="GAN")
    if variant == "WGAN-clip":  # Arjovsky et al. use RMSProp with clipping
        optimizers = (torch.optim.RMSprop(G.parameters(), lr=RECIPE.lr),
                      torch.optim.RMSprop(D.parameters(), lr=RECIPE.lr))
        step = wgan_step(N_CRITIC, clip=0.1)
    else:
        optimizers, step = None, wgan_step(N_CRITIC, penalty=LAMBDA_2D)
    return gan2d.train_2d(name, step, G, D, RECIPE, critic_steps=N_CRITIC, optimizers=optimizers,
                          values="score", label=variant)


# independent runs: gan2d.train_all trains those not cached side by side, a process each
# (the longest first: the grid's, and the later variants, which cost more per step)
runs = gan2d.train_all({(name, variant): partial(run_2d, name, variant) for name in ("ring", "grid")
                        for variant in VARIANTS},
                       priority=lambda key: (RECIPE.steps[key[0]], VARIANTS.index(key[1])))
print(f"{'':5s} {'':10s} {'coverage of 2,500 samples':48s} training time")
for (name, variant), run in runs.items():
    print(f"{name:5s} {variant:10s} {str(run.coverage):48s} {run.seconds:.1f} s{' (cached)' if run.cached else ''}")

# %%
fig, axes = plt.subplots(2, 3, figsize=(13, 8.4))
for row, name in enumerate(("ring", "grid")):
    mixture = data.load(name, n=2500, seed=5)
    for col, variant in enumerate(VARIANTS):
        run = runs[(name, variant)]
        c = run.coverage
        viz.plot_2d(run.samples, mixture.x, mixture.extent, ax=axes[row, col],
                    title=f"{name}, {variant}: {c.modes_captured}/{c.n_modes} modes, {100 * c.high_quality:.0f}% "
                          f"high quality ({run.seconds:.0f} s)")
plt.suptitle("same networks, recipe and generator steps: 2,500 samples of each averaged generator")
plt.tight_layout()
plt.show()

# %%
def covers(run: gan2d.Run2D) -> str:
    c = run.coverage
    return f"{c.modes_captured} of {c.n_modes} modes ({100 * c.high_quality:.0f}% high quality, KL {c.kl_to_uniform:.2f})"


best = max(VARIANTS, key=lambda v: sum(runs[(n, v)].coverage.modes_captured for n in ("ring", "grid")))
say(f"""**What the numbers show** (this run). On the ring: GAN {covers(runs[("ring", "GAN")])},
WGAN-clip {covers(runs[("ring", "WGAN-clip")])}, WGAN-GP {covers(runs[("ring", "WGAN-GP")])}.
On the grid: GAN {covers(runs[("grid", "GAN")])}, WGAN-clip {covers(runs[("grid", "WGAN-clip")])},
WGAN-GP {covers(runs[("grid", "WGAN-GP")])}. Of the three, **{best}** covers the most modes over both
mixtures in this run. The KL compares how the high-quality samples share out over the modes with
an even share (0 when even). A single run is a single draw of a noisy process: `course bench
--lesson 05_wgan --seeds 0 1 2` reports every seed. Use the explorer to see where the samples sit.""")

# %%
grid_points = data.load("grid", n=2000, seed=0)
explorer = widgets.ModeCollapseExplorer(runs[("grid", "WGAN-GP")].snapshots, grid_points.x, grid_points.extent,
                                        title="WGAN-GP on the grid", field_label="critic f(x)")
explorer

# %% [markdown]
# **The critic's estimate of W is a training curve.** For a GAN the losses say little about
# progress. The WGAN critic's $\mathbb{E}[f(x)] - \mathbb{E}[f(\tilde x)]$ estimates $W$ (up to the
# Lipschitz constant), and it falls as the samples improve. (On the grid the quality curve starts
# high: the untrained generator's points sit at the origin, which is itself one of the 25 modes.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for name, ax in zip(("ring", "grid"), axes):
    run = runs[(name, "WGAN-GP")]
    w = np.array(run.history.step["W_estimate"])
    window = max(len(w) // 50, 1)
    smooth = np.convolve(w, np.ones(window) / window, mode="valid")
    ax.plot(np.arange(len(smooth)) + window // 2, smooth, color="tab:blue", label="critic's estimate of W (smoothed)")
    ax.set_xlabel("generator step")
    ax.set_ylabel("E f(real) − E f(fake)", color="tab:blue")
    quality = ax.twinx()
    quality.plot([s.step for s in run.snapshots],
                 [100 * metrics.mode_coverage(s.samples, data.load(name).modes, data.load(name).std).high_quality
                  for s in run.snapshots], color="tab:orange", marker="o", ms=3, label="% high quality")
    quality.set_ylabel("% high-quality samples", color="tab:orange")
    ax.set_title(f"WGAN-GP on the {name}: W estimate against sample quality")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. WGAN-GP on digits
#
# Lesson 04's DCGAN generator, and its discriminator as a critic, without a sigmoid, sized for the
# track's images as in lesson 04 (8x8 digits, or 28x28 MNIST on the mnist track). Lesson 04's
# discriminator has no batch normalisation, and a critic must not have any: the penalty is
# computed per sample, and batch normalisation would mix samples. Scores use
# the same classifier (trained deterministically by `metrics.track_classifier`), reference set and
# number of samples as lesson 04 on the same track, so they are comparable with its DCGAN: compare
# the real-digit rows of the two lessons, which must agree.

# %% id="lib-wgan-digits-models"
Z_IMAGE = 16


class Generator(nn.Module):
    """Lesson 04's DCGAN generator: z -> 128 x s x s -> 64 x 2s x 2s -> 1 x 4s x 4s in [0, 1], s = side / 4."""

    def __init__(self, z_dim: int = Z_IMAGE, side: int = 8):
        super().__init__()
        self.s = side // 4
        self.project = nn.Sequential(nn.Linear(z_dim, 128 * self.s**2), nn.BatchNorm1d(128 * self.s**2), nn.ReLU())
        self.up = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                                nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z).view(-1, 128, self.s, self.s))


class Critic(nn.Module):
    """Lesson 04's discriminator without a sigmoid (and without batch normalisation): an unbounded score.
    1 x side x side -> 64 x side/2 -> 128 x side/4 -> a score."""

    def __init__(self, side: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 64, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 3, 2, 1),
                                 nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * (side // 4) ** 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# %%
digits, held_out = data.track_images("train"), data.track_images("test")
SIDE = digits.shape[-1]  # 8 on the digits track, 28 on MNIST
print(digits, held_out, sep="\n")
DIGIT_STEPS = budget(1500, 10)
N_CRITIC_DIGITS = 5


def fit_wgan_digits(pair: nn.Module) -> train.History:
    G, C = pair["G"], pair["C"]
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.9))
    opt_C = torch.optim.Adam(C.parameters(), lr=2e-4, betas=(0.5, 0.9))
    step = wgan_step(N_CRITIC_DIGITS, penalty=10.0)
    # each call of the step takes n_critic batches of 64, one after the other along the batch axis
    real_batches = train.batches(digits.x, batch_size=64 * N_CRITIC_DIGITS, seed=0)
    noise = train.noise(64 * N_CRITIC_DIGITS, Z_IMAGE, seed=1)

    def one_step(i: int) -> dict[str, float]:
        (real,) = next(real_batches)
        return step(G, C, opt_G, opt_C, real, next(noise))

    history, _ = train.run_steps(one_step, DIGIT_STEPS, models=(G, C), desc="WGAN-GP, digits")
    return history


pair, digit_history = train.load_or_train(
    "05-wgan-gp-digits", {"steps": DIGIT_STEPS, "n_critic": N_CRITIC_DIGITS, "lambda": 10.0, "lr": 2e-4, "seed": 0,
                          "data": [digits.name, len(digits), *digits.shape]},  # a checkpoint is for its data
    build=lambda: nn.ModuleDict({"G": Generator(side=SIDE), "C": Critic(side=SIDE)}), train=fit_wgan_digits)
G_digits = pair["G"].eval()
viz.plot_losses({"W_estimate": digit_history.step["W_estimate"]}, title="WGAN-GP on digits: the critic's estimate of W")
plt.show()

classifier = metrics.track_classifier(digits)
n_eval = budget(len(held_out), 100)
reference = held_out.x[:n_eval]
with torch.no_grad():
    wgan_samples = G_digits(torch.randn(n_eval, Z_IMAGE, generator=torch.Generator().manual_seed(11)).to(device)).cpu()
real_other = digits.x[torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))[:n_eval]]
digit_scores = {"real training digits": metrics.classifier_scores(real_other, reference, classifier),
                "WGAN-GP": metrics.classifier_scores(wgan_samples, reference, classifier)}
for name, s in digit_scores.items():
    print(f"{name:22s} inception score {s['inception_score']:5.2f}   Fréchet distance {s['frechet_distance']:6.2f}")
viz.show_images(wgan_samples[:32], "WGAN-GP samples", nrow=16)
plt.show()

# %% [markdown]
# ## 8. Summary
#
# * JS is flat when supports do not overlap, while $W$ keeps a gradient.
# * $W$ is a transport cost: a linear program in general, sorted samples in 1D.
# * Kantorovich-Rubinstein duality turns it into a critic that must be 1-Lipschitz. Clipping enforces
#   this crudely, and the gradient penalty enforces it where it matters.
# * The critic's gradients point toward the data everywhere, and its estimate of $W$ tracks progress.
#   How many modes each method covers at this budget is measured in section 6, and on every seed by the bench.
#
# **✎ Question.** Why does the gradient penalty sample $\hat x$ on segments between real and generated
# points, rather than everywhere in the space?

# %% [markdown] id="answer-segments" points=2
# ### BEGIN SOLUTION
# The optimal critic has gradient norm 1 along the lines joining points coupled by the optimal
# transport plan, which run between the two distributions; enforcing the constraint everywhere is
# impossible in high dimensions and unnecessary, so it is enforced where the generator's samples
# must travel.
# ### END SOLUTION

# %%
metrics_05 = {}
for (name, variant), run in runs.items():
    metrics_05.update(run.metrics(f"{name}_{variant.lower().replace('-', '_')}"))
metrics_05["digits_wgan_gp_inception_score"] = digit_scores["WGAN-GP"]["inception_score"]
metrics_05["digits_wgan_gp_frechet"] = digit_scores["WGAN-GP"]["frechet_distance"]
metrics_05["digits_real_inception_score"] = digit_scores["real training digits"]["inception_score"]
metrics_05["digits_real_frechet"] = digit_scores["real training digits"]["frechet_distance"]
metrics_05["lp_minus_closed_form_W"] = W_lp - W_cdf
parts = [f"{name} {variant} {runs[(name, variant)].coverage.modes_captured}/{runs[(name, variant)].coverage.n_modes} "
         f"{100 * runs[(name, variant)].coverage.high_quality:.0f}%HQ" for name in ("ring", "grid")
         for variant in ("GAN", "WGAN-GP")]
summary = "; ".join(parts) + f"; digits WGAN-GP IS {metrics_05['digits_wgan_gp_inception_score']:.2f}"
record("05_wgan", metrics_05, summary);
