# %% [markdown]
# # Lesson 03 · Autoregressive models and PixelCNN
#
# **The question.** The VAE bounds $\log p(x)$ from below and blurs its samples, because its
# decoder treats pixels as independent given $z$. Can we model $p(x)$ *exactly*, with every
# dependency between pixels, and still train fast?
#
# **The idea.** Treat an image like a sentence. Order the pixels, and predict each one from those
# before it, as a language model predicts the next word. The chain rule of probability makes this
# exact, with no approximation and no latent variable:
#
# $$
# p(x) = \prod_{i=1}^{D} p(x_i \mid x_1, \dots, x_{i-1}) .
# $$
#
# In this lesson you will
# 1. build the causal masks that let a convolution see only the past, and check them by gradients;
# 2. find the *blind spot* of stacked masked convolutions, and remove it with a gated PixelCNN;
# 3. train with a softmax over grey levels and report negative log-likelihood in nats and bits per dimension;
# 4. write the pixel-by-pixel sampler, time it, and complete half-hidden digits;
# 5. condition on the class: ask for a digit.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import budget, fast_mode, get_device, hint, seed_everything
from course_utils import data, train, viz
from course_utils.checks import pixelcnn as checks
from course_utils.results import record, say

device = get_device()
seed_everything(0)
print(f"device: {device}; fast mode: {fast_mode()}")

# %% [markdown]
# ## 1. Pixels as words
#
# The digits have 17 grey levels, so each pixel is a *word* from a vocabulary of $L = 17$, and
# an image is a 64-word sentence read in **raster order**: left to right, top to bottom. Each
# conditional $p(x_i \mid x_{<i})$ is a softmax over the 17 levels, like a language model's next-word
# distribution. We model the integer levels directly: no binarisation, and no Gaussian assumption.

# %%
LEVELS = 17
train_set, test_set = data.load("digits", "train"), data.load("digits", "test")
to_levels = lambda x: (x * (LEVELS - 1)).round().long()  # noqa: E731  [0, 1] -> {0, ..., 16}
x_train, x_test = to_levels(train_set.x), to_levels(test_set.x)
H, W = x_train.shape[-2:]
D = H * W
print(f"{len(x_train)} training and {len(x_test)} held-out images of {H}x{W} pixels, levels 0..{LEVELS - 1}")

order = torch.arange(D).view(H, W)
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
axes[0].imshow(x_train[0, 0], cmap="gray", vmin=0, vmax=LEVELS - 1)
axes[0].set_title(f"a digit: 64 pixels, {LEVELS} grey levels")
axes[1].imshow(order, cmap="viridis")
for i in range(H):
    for j in range(W):
        axes[1].text(j, i, int(order[i, j]), ha="center", va="center", fontsize=7, color="white")
axes[1].set_title("raster order: pixel i is predicted from pixels < i")
for ax in axes:
    ax.set_xlabel("column")
    ax.set_ylabel("row")
plt.show()

# %% [markdown]
# **Training is parallel, sampling is not.** During training all 64 pixels are known, and each
# conditional is computed from the *true* previous pixels, not from pixels the model drew itself:
# that is *teacher forcing*, as in language models. So *every* conditional can be computed in one
# pass, provided the network for pixel $i$ never looks at pixels $\ge i$. A PixelRNN reads the pixels
# one after another even in training, since its hidden state is a recurrence: its pass is a loop of
# dependent steps (section 9 measures what that costs here). A PixelCNN uses convolutions whose kernels are **masked** so that information
# only flows from the past: one forward pass yields all 64 softmaxes. At *sampling* time both
# must go pixel by pixel, because pixel $i$ does not exist until it has been drawn.
#
# ## 2. Masked convolutions
#
# A $k \times k$ kernel centred on pixel $(r, c)$ covers the $\lfloor k/2 \rfloor$ rows above,
# the current row, and the rows below. The mask keeps the rows above and the pixels to the left in
# the current row:
#
# * **type A** (first layer) also hides the centre: the prediction for $x_i$ must not see $x_i$;
# * **type B** (later layers) keeps the centre. There the feature at position $i$ already
#   summarises only $x_{<i}$, so it is safe to use.
#
# ### ✎ Exercise 1: the mask

# %% id="ex-causal-mask"
def causal_mask(k: int, mask_type: str) -> torch.Tensor:
    """A k x k float tensor: 1 where a masked kernel may look, 0 elsewhere (type 'A' or 'B')."""
    ### HINT: A kernel may look at every row above its centre and at the centre row left of the centre; only type B may look at the centre itself.
    ### HINT 2: Draw a 5 x 5 mask on paper for each type first; the only difference between A and B is one entry, the centre. Rows below the centre are always hidden.
    ### BEGIN SOLUTION
    mask = torch.zeros(k, k)
    centre = k // 2
    mask[:centre, :] = 1.0
    mask[centre, :centre] = 1.0
    if mask_type == "B":
        mask[centre, centre] = 1.0
    return mask
    ### END SOLUTION


# %% id="check-causal-mask" points=2 tags=["nbval-check-output"]
checks.check_causal_mask(causal_mask)

# %%
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, kind in zip(axes, "AB"):
    ax.imshow(causal_mask(5, kind), cmap="Greens", vmin=0, vmax=1.3)
    ax.add_patch(plt.Rectangle((1.5, 1.5), 1, 1, fill=False, ec="red", lw=2))
    ax.set_title(f"5x5 mask, type {kind}")
    ax.set_xlabel("kernel column")
    ax.set_ylabel("kernel row")
plt.suptitle("green: weights the kernel may use; red: the output pixel's own position")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### ✎ Exercise 2: the masked convolution
# `MaskedConv2d(c_in, c_out, k, mask_type)` is an `nn.Conv2d` with padding $k // 2$ (same size
# out as in), whose weight is multiplied by the mask *at every forward pass*. That way the
# optimiser may change masked weights, but they never take effect. Register the mask as a buffer,
# so it follows the module to the GPU and into checkpoints.

# %% id="ex-masked-conv"
class MaskedConv2d(nn.Conv2d):
    """A same-size convolution that only sees the past (type 'A') or the past and present ('B')."""

    def __init__(self, c_in: int, c_out: int, k: int, mask_type: str):
        super().__init__(c_in, c_out, k, padding=k // 2)
        self.register_buffer("mask", causal_mask(k, mask_type))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### HINT: Convolve with the masked weight, masked anew at every call, and with the layer's own bias and padding.
        ### HINT 2: Two slips: masking the weight once in __init__ (an optimiser step then refills the hidden entries) and dropping the layer's bias or padding by calling the functional convolution without them.
        ### BEGIN SOLUTION
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)
        ### END SOLUTION


# %% id="check-masked-conv" points=3 tags=["nbval-check-output"]
checks.check_masked_conv(MaskedConv2d)

# %% [markdown]
# ## 3. What does an output pixel see? The blind spot
#
# Stack a type-A layer and a few type-B layers, then ask which input pixels influence the output at
# one position. The gradient answers: $\partial\, \text{output}_{r,c} / \partial x$ is non-zero exactly
# at the inputs that reach it. The autoregressive property says it must be zero at $(r, c)$ and
# after it, and we want it non-zero everywhere before.

# %% id="lib-pixelcnn-model"
class PixelCNN(nn.Module):
    """Masked conv A (7x7) -> [ReLU, masked conv B (3x3)] x n -> ReLU, 1x1 conv -> L logits per pixel."""

    def __init__(self, channels: int = 64, n_layers: int = 5, levels: int = LEVELS, first_kernel: int = 7):
        super().__init__()
        self.levels = levels
        layers: list[nn.Module] = [MaskedConv2d(1, channels, first_kernel, "A")]
        for _ in range(n_layers):
            layers += [nn.ReLU(), MaskedConv2d(channels, channels, 3, "B")]
        layers += [nn.ReLU(), nn.Conv2d(channels, levels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Levels N x 1 x H x W (integers) -> logits N x L x H x W."""
        return self.net(x.float() / (self.levels - 1))


# %% tags=["nbval-check-output"]
def dependency_map(model: nn.Module, position: tuple[int, int], size: int = 8) -> torch.Tensor:
    """|d logits[position] / d input|: which input pixels the output at `position` depends on."""
    x = torch.rand(1, 1, size, size, requires_grad=True)  # real-valued levels, so gradients exist
    logits = model.cpu()(x.mul(LEVELS - 1))
    logits[0, :, position[0], position[1]].sum().backward()
    return x.grad[0, 0].abs()


def show_dependencies(ax, grad: torch.Tensor, position: tuple[int, int], title: str) -> None:
    r, c = position
    size = grad.shape[0]
    raster = torch.arange(size * size).view(size, size)
    past = raster < r * size + c
    seen = grad > 0
    picture = np.zeros((size, size, 3))
    picture[past.numpy() & seen.numpy()] = (0.2, 0.6, 0.2)        # past, seen: good
    picture[past.numpy() & ~seen.numpy()] = (0.95, 0.75, 0.2)     # past, unseen: the blind spot
    picture[~past.numpy() & seen.numpy()] = (0.85, 0.1, 0.1)      # future, seen: a leak (must not happen)
    picture[~past.numpy() & ~seen.numpy()] = (0.92, 0.92, 0.92)   # future, unseen: correct
    ax.imshow(picture)
    ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="black", lw=2))
    ax.set_title(title)
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")


seed_everything(0)
position = (6, 3)
plain_untrained = PixelCNN(channels=8, n_layers=4, first_kernel=3)  # 3x3 kernels: the effect is easiest to see
fig, ax = plt.subplots(figsize=(4.2, 4))
show_dependencies(ax, dependency_map(plain_untrained, position), position, "masked PixelCNN: inputs seen by one output")
plt.show()
grad = dependency_map(plain_untrained, position)
blind = [(i, j) for i in range(H) for j in range(W) if i * W + j < position[0] * W + position[1] and grad[i, j] == 0]
print(f"green: past pixels that reach output {position}; yellow: the {len(blind)} past pixels it cannot see; "
      "grey: present and future, correctly unseen")

# %% [markdown]
# **The blind spot.** Two kinds of yellow. The top row is simply out of reach: five small layers
# climb five rows, and more layers would get there. The *staircase on the right* is different:
# those past pixels to the upper right stay invisible however many layers we stack. Each masked kernel reaches at most one column to the right per row it
# climbs, and the mask removes the centre row's right half at every layer. So a cone above and to
# the right of the pixel is never covered. Those pixels are often the stroke the current pixel
# should continue.
#
# **The gated PixelCNN** (van den Oord et al. 2016, *Conditional Image Generation with PixelCNN
# Decoders*) splits the receptive field into two stacks:
#
# * a **vertical stack** that sees all rows *above* (full width), with no mask inside a row;
# * a **horizontal stack** that sees the current row *to the left*, and gets the vertical
#   stack's features shifted down by one row, so it only receives rows strictly above.
#
# Together they cover every past pixel. Each layer also replaces the ReLU by a **gated**
# activation, with a class embedding $h$ added to both halves for conditioning:
#
# $$
# y = \tanh(W_f * x + V_f h) \odot \sigma(W_g * x + V_g h).
# $$
#
# ### ✎ Exercise 3: a gated layer
# The layer's convolutions are given; write how it uses them. Each convolution is padded on every
# side, so its output is *larger* than the image and sees too much: crop it so that output row
# $r$ of the vertical stack sees input rows up to $r$, and output column $c$ of the horizontal
# stack sees columns up to $c$ of its row (in the first layer, type A, strictly before $c$). Then,
# in this order:
# 1. the vertical stack's output is the gate of its cropped features;
# 2. the cropped vertical features, moved one row down (so they carry rows strictly above), go
#    through the 1x1 convolution `vertical_to_horizontal` and are added to the cropped horizontal
#    features; their gate goes through the 1x1 convolution `horizontal_out`;
# 3. after the first layer, the horizontal stack is residual: its input `h` is added to that result.
#
# `gate(a, class_bias)` adds the class bias (one value per channel and image, from `self.embedding`,
# the same at every pixel) when there is one, in both stacks, then splits the channels of `a` into
# $f$ (the first half) and $g$ (the second): $\tanh(f) \odot \sigma(g)$. The check computes each
# output's dependencies by autograd, as the figure above does.

# %% id="ex-gated-layer"
class GatedLayer(nn.Module):
    """One layer of a gated PixelCNN: vertical and horizontal stacks, gated activations, optional class."""

    def __init__(self, c_in: int, channels: int, k: int, first: bool, n_classes: int | None = None):
        super().__init__()
        self.first = first
        # vertical: a (k//2 + 1) x k kernel, cropped so that output row r sees input rows r - k//2 .. r
        self.vertical = nn.Conv2d(c_in, 2 * channels, (k // 2 + 1, k), padding=(k // 2, k // 2))
        # horizontal: a 1 x (k//2 + 1) kernel, cropped so that output column c sees columns c - k//2 .. c
        self.horizontal = nn.Conv2d(c_in, 2 * channels, (1, k // 2 + 1), padding=(0, k // 2))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = nn.Conv2d(channels, channels, 1)
        self.embedding = nn.Embedding(n_classes, 2 * channels) if n_classes else None

    @staticmethod
    def gate(a: torch.Tensor, class_bias: torch.Tensor | None) -> torch.Tensor:
        """tanh(f) * sigmoid(g) for the two halves (f, g) of a's channels, with the class bias added first."""
        ### HINT: Add the class bias (one value per channel, the same at every pixel) when there is one, then split the channels in two halves and multiply the tanh of the first by the sigmoid of the second.
        ### HINT 2: The class bias comes per image and per channel of a; it must broadcast over the pixels, so it needs two singleton axes at the end.
        ### BEGIN SOLUTION
        if class_bias is not None:
            a = a + class_bias[:, :, None, None]
        f, g = a.chunk(2, dim=1)
        return torch.tanh(f) * torch.sigmoid(g)
        ### END SOLUTION

    def forward(self, v: torch.Tensor, h: torch.Tensor, y: torch.Tensor | None = None):
        """(v, h) -> (v_out, h_out): the vertical and the horizontal stack after this layer."""
        rows, cols = v.shape[-2:]
        ### HINT: Crop each padded convolution back to the image so that nothing below row r (vertical) or right of column c (horizontal) is seen; in the first layer move the horizontal features one column right; shift the vertical features one row down before they feed the other stack; gate both with the class bias; the horizontal branch ends with its 1x1 convolution and, after the first layer, a skip connection from its input.
        ### HINT 2: Work out, on paper, which output rows a convolution padded on both sides produces beyond the image: the extra ones are at the bottom for the vertical stack and on the right for the horizontal one. Shifting by one means padding one row (or column) at the start and cutting back to the image size.
        ### BEGIN SOLUTION
        v_features = self.vertical(v)[:, :, :rows, :]                        # rows <= r
        h_features = self.horizontal(h)[:, :, :, :cols]                      # columns <= c
        if self.first:                                                      # type A: not the pixel itself
            h_features = F.pad(h_features, (1, 0))[:, :, :, :cols]
        v_shifted = F.pad(v_features, (0, 0, 1, 0))[:, :, :rows, :]          # rows < r only
        class_bias = self.embedding(y) if self.embedding is not None and y is not None else None
        v_out = self.gate(v_features, class_bias)
        h_out = self.horizontal_out(self.gate(h_features + self.vertical_to_horizontal(v_shifted), class_bias))
        return v_out, (h_out if self.first else h + h_out)                  # residual in the horizontal stack
        ### END SOLUTION


# %% id="check-gated-layer" points=12 tags=["nbval-check-output"]
checks.check_gated_layer(GatedLayer)


# %% id="lib-gated-model"
class GatedPixelCNN(nn.Module):
    """A 7x7 first gated layer, n 3x3 gated layers, then a small head on the horizontal stack."""

    def __init__(self, channels: int = 64, n_layers: int = 5, levels: int = LEVELS, n_classes: int | None = None,
                 first_kernel: int = 7):
        super().__init__()
        self.levels = levels
        self.layers = nn.ModuleList([GatedLayer(1, channels, first_kernel, True, n_classes)] +
                                    [GatedLayer(channels, channels, 3, False, n_classes) for _ in range(n_layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, levels, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        v = h = x.float() / (self.levels - 1)
        for layer in self.layers:
            v, h = layer(v, h, y)
        return self.head(h)


# %%
seed_everything(0)
gated_untrained = GatedPixelCNN(channels=8, n_layers=4, first_kernel=3)
fig, axes = plt.subplots(1, 2, figsize=(8.4, 4))
show_dependencies(axes[0], dependency_map(plain_untrained, position), position, "masked PixelCNN")
show_dependencies(axes[1], dependency_map(gated_untrained, position), position, "gated PixelCNN: no blind spot")
plt.suptitle("green: past inputs seen; yellow: past inputs missed; red: a leak from the future (none)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. The likelihood, in nats and in bits per dimension
#
# Training maximises $\log p(x) = \sum_i \log p(x_i \mid x_{<i})$: the sum, over pixels, of the
# log-softmax probability of the observed level. This is the cross-entropy of each pixel's softmax,
# summed over the image:
#
# $$
# -\log p(x) = -\sum_{i=1}^{D} \log \operatorname{softmax}(\ell_i)_{x_i} \quad \text{(nats)}, \qquad
# \text{bits/dim} = \frac{-\log p(x)}{D \ln 2}.
# $$
#
# Bits per dimension is comparable across image sizes. A uniform guess over 17 levels costs
# $\log_2 17$ bits per pixel, just over four.
#
# ### ✎ Exercise 4: negative log-likelihood and bits per dimension

# %% id="ex-pixel-nll"
def pixel_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−log p(x) in nats for each image: logits N x L x H x W, x N x 1 x H x W integer levels -> N."""
    ### HINT: Each pixel's level is a class: take the cross-entropy of every pixel's logits and add it up over each image.
    ### HINT 2: The cross-entropy of torch expects the class axis second and integer targets without a channel axis. Add up over each image's pixels (its log-likelihood), one value per image.
    ### BEGIN SOLUTION
    return F.cross_entropy(logits, x[:, 0], reduction="none").flatten(1).sum(1)
    ### END SOLUTION


def bits_per_dim(nll_nats: torch.Tensor, dims: int) -> torch.Tensor:
    """Convert nats per image into bits per dimension."""
    ### HINT: Nats become bits through a change of logarithm base, and per dimension means per pixel.
    ### HINT 2: Nats are natural logarithms, bits base-2 ones; the number of dimensions is the number of pixels.
    ### BEGIN SOLUTION
    return nll_nats / (dims * math.log(2))
    ### END SOLUTION


# %% id="check-pixel-nll" points=2 tags=["nbval-check-output"]
checks.check_pixel_nll(pixel_nll, bits_per_dim)

# %% [markdown]
# ## 5. Training, and two baselines to beat
#
# A likelihood only means something next to others. Two baselines, fitted on the same training
# images:
#
# * **independent pixels**: each pixel gets its own categorical distribution over the 17 levels
#   (counts with add-one smoothing). It has no dependencies at all.
# * **a Gaussian mixture** on the 64-dimensional images. It is a continuous density, so it is
#   fitted to *dequantised* data $(x + u)/17$ with $u \sim U[0, 1)^D$. Its bits/dim
#   $\big(-\log p((x+u)/17) + D \log 17\big)/(D \ln 2)$ then bounds the likelihood of a discrete
#   model from above (Theis et al. 2016).

# %%
EPOCHS = budget(lecture=25, fast=1)
LR = 2e-3


def nll_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    x, y = batch
    return pixel_nll(model(x, y), x).mean()


def trained(name: str, build, epochs: int = EPOCHS, live_plot: bool = False):
    config = {"model": name, "epochs": epochs, "lr": LR, "seed": 0}
    return train.load_or_train(
        f"03-{name}", config, build=build,
        train=lambda model: train.fit(model, nll_loss, torch.utils.data.TensorDataset(x_train, train_set.y),
                                      epochs=epochs, lr=LR, live_plot=live_plot, desc=f"{name}: −log p(x), nats"),
    )


@torch.no_grad()
def test_bits_per_dim(model: nn.Module) -> float:
    model.eval()
    nll = torch.cat([pixel_nll(model(x_test[i:i + 128].to(device), test_set.y[i:i + 128].to(device)),
                               x_test[i:i + 128].to(device)).cpu() for i in range(0, len(x_test), 128)])
    return bits_per_dim(nll.mean(), D).item()


plain, plain_history = trained("pixelcnn", lambda: PixelCNN(), live_plot=True)
gated, gated_history = trained("gated-pixelcnn", lambda: GatedPixelCNN())

# %%
counts = F.one_hot(x_train[:, 0], LEVELS).sum(0).float() + 1.0          # H x W x L, add-one smoothing
log_probs = (counts / counts.sum(-1, keepdim=True)).log()
observed = x_test[:, 0].unsqueeze(-1)                                    # N x H x W x 1
independent_nats = -log_probs.expand(len(x_test), -1, -1, -1).gather(-1, observed).flatten(1).sum(1).mean()

from sklearn.mixture import GaussianMixture  # noqa: E402

generator = torch.Generator().manual_seed(0)
dequantise = lambda x: ((x.float() + torch.rand(x.shape, generator=generator)) / LEVELS).flatten(1).numpy()  # noqa: E731
mixture = GaussianMixture(n_components=budget(10, 2), covariance_type="full", reg_covar=1e-3, random_state=0,
                          max_iter=budget(100, 10)).fit(dequantise(x_train))
mixture_nats = float(-mixture.score_samples(dequantise(x_test)).mean() + D * math.log(LEVELS))

results = {
    "uniform over 17 levels": math.log2(LEVELS),
    "independent pixels": bits_per_dim(independent_nats, D).item(),
    "Gaussian mixture (10, dequantised)": mixture_nats / (D * math.log(2)),
    "PixelCNN (masked)": test_bits_per_dim(plain),
    "gated PixelCNN": test_bits_per_dim(gated),
}
for name, value in results.items():
    print(f"{name:36s} {value:.3f} bits/dim   ({value * D * math.log(2):6.1f} nats per image)")

fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(results), list(results.values()), color=["grey", "grey", "grey", "C0", "C1"])
ax.invert_yaxis()
ax.set_xlabel("held-out bits per dimension (lower is better)")
ax.set_title(f"likelihood of the {len(x_test)} held-out digits")
plt.show()

# %% [markdown]
# **What the bars show.** Both PixelCNNs beat the baselines by a wide margin: each pixel is
# predicted from its neighbours, which the independent model cannot do, and the softmax fits the
# many all-black pixels far better than Gaussians do. The Gaussian mixture even loses to independent
# pixels: ten Gaussians spread their mass smoothly over the cube, while the images sit on
# exact levels, mostly 0. The gated network, with no blind spot and gated units, beats the masked one.
#
# ### ✎ Graded: what your gated PixelCNN learned
# Besides the check cells, the grader scores the gated PixelCNN trained above with your gated layer
# of exercise 3, in the lecture configuration (not in fast mode). The next cell saves its weights to
# `03_pixelcnn.weights.pt` beside this notebook: hand that file in with the notebook. The grader loads
# it into its own copy of `GatedPixelCNN()` and measures bits per dimension on 90 digits that this
# notebook never loads (kept aside from the held-out fifth for grading): full marks at $1.85$ bits/dim
# or less, none at $2.3$ or more (the independent-pixel model's neighbourhood), in proportion between.
# The gated bar above, on the other held-out digits, is a fair preview.

# %%
train.save_weights(gated, "03_pixelcnn");

# %% id="check-trained-pixelcnn" points=4 tags=["nbval-check-output"]
checks.check_trained(GatedPixelCNN)

# %% [markdown]
# ## 6. Sampling, one pixel at a time
#
# To sample, start from an empty image and fill it in raster order: run the network, take the
# softmax at pixel $i$, draw a level, write it in, move on. Every step runs the *whole* network on
# the whole image, so a sample costs $D$ forward passes, against one pass to evaluate $p(x)$.
# Batching many images into each pass is what keeps this bearable on a CPU.
#
# ### ✎ Exercise 5: the sampler
# `sample(model, n, shape, levels, y=None, x=None, start=0)` returns `n` images of integer levels.
# `x` (optional) is an image to continue from, and `start` the raster index of the first pixel to
# draw: the completions below use them. Call the model once per pixel on the whole batch, under
# `torch.no_grad()`.

# %% id="ex-sample"
@torch.no_grad()
def sample(model: nn.Module, n: int, shape: tuple[int, int, int] = (1, 8, 8), levels: int = LEVELS,
           y: torch.Tensor | None = None, x: torch.Tensor | None = None, start: int = 0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw n images pixel by pixel in raster order; pixels before `start` are taken from x."""
    _, rows, cols = shape
    device_ = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.zeros(n, *shape, dtype=torch.long) if x is None else x.clone().long()
    x = x.to(device_)
    y = y.to(device_) if y is not None else None
    ### HINT: Visit the pixels in raster order from start; at each one run the model on the whole batch, turn that pixel's logits into probabilities and draw a level for every image.
    ### HINT 2: Pixels before start must stay as given. Each pixel needs the model run again, because its distribution depends on the pixels just drawn. Draw with the generator you are given (it lives on the CPU, so the probabilities must too), and write each draw back into the images before the next pixel.
    ### BEGIN SOLUTION
    for i in range(start, rows * cols):
        r, c = divmod(i, cols)
        probs = model(x, y)[:, :, r, c].softmax(dim=-1)
        x[:, 0, r, c] = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(device_)
    ### END SOLUTION
    return x.cpu()


# %% id="check-sample" points=3 tags=["nbval-check-output"]
checks.check_sample(sample)

# %%
N_SAMPLES = budget(100, 20)
timings = {}
samples = {}
for name, model in (("PixelCNN (masked)", plain), ("gated PixelCNN", gated)):
    model.eval()
    start_time = time.perf_counter()
    samples[name] = sample(model, N_SAMPLES, generator=torch.Generator().manual_seed(0))
    timings[name] = N_SAMPLES / (time.perf_counter() - start_time)
    print(f"{name}: {N_SAMPLES} samples in {N_SAMPLES / timings[name]:.2f} s = {timings[name]:.0f} images/s "
          f"({D} forward passes of a batch of {N_SAMPLES})")

fig, axes = plt.subplots(3, 1, figsize=(9, 6.4))
viz.show_images(x_test[:24].float() / (LEVELS - 1), "held-out digits", nrow=12, ax=axes[0])
for ax, (name, images) in zip(axes[1:], samples.items()):
    viz.show_images(images[:24].float() / (LEVELS - 1), f"{name}: samples", nrow=12, ax=ax)
plt.show()

# %% [markdown]
# **What the samples show.** Strokes are sharp: each pixel is drawn given its neighbours, so there
# is none of the VAE's blur. Not every sample is a clean digit, though. The model is good at local
# texture, while global shape needs the long-range context that a small network on a small data set
# learns only partly. The gated network's samples are more often digit-like.
#
# **Why sampling is slow, and what would make it faster.** Each of the $D = 64$ steps recomputes
# every feature of every pixel, though only pixel $i$ changed. *Caching*, updating only the
# features that depend on the new pixel, cuts the work by a large factor (this is how fast
# autoregressive decoders work), at the price of more complex code. On a GPU the $D$ steps
# stay sequential: autoregressive sampling is latency-bound however wide the hardware.
#
# ## 7. Completing hidden digits
#
# The same sampler completes an image: keep the top half of a held-out digit, and draw the
# bottom half pixel by pixel, conditioned on what is kept. Different draws give different
# plausible completions.

# %%
n_originals, n_draws = 8, 4
kept = x_test[:n_originals].clone()
kept[:, :, H // 2:, :] = 0
completions = [sample(gated, n_originals, x=kept, start=(H // 2) * W, generator=torch.Generator().manual_seed(s))
               for s in range(n_draws)]
rows = {"original": x_test[:n_originals], "top half kept": kept}
rows.update({f"completion {s + 1}": c for s, c in enumerate(completions)})
viz.show_rows({k: v.float() / (LEVELS - 1) for k, v in rows.items()},
              "gated PixelCNN: the bottom half drawn given the top half")
plt.show()

# %% [markdown]
# Where the kept half settles the digit, the four completions agree on it and differ only in the
# strokes. Where it is ambiguous, they branch into different digits: the model represents that
# uncertainty instead of averaging it into a blur (a VAE's mean image would be a grey mix).
#
# ## 8. A class-conditional PixelCNN: ask for a digit
#
# To model $p(x \mid y)$, add a learnt embedding of the label $y$ to every gate (the $V h$ terms of
# section 3). The chain rule is unchanged: $p(x \mid y) = \prod_i p(x_i \mid x_{<i}, y)$.

# %%
conditional, _ = trained("conditional-gated-pixelcnn", lambda: GatedPixelCNN(n_classes=10))
conditional_bpd = test_bits_per_dim(conditional)
print(f"held-out bits/dim given the label: {conditional_bpd:.3f} "
      f"(unconditional gated: {results['gated PixelCNN']:.3f}; knowing y saves at most log2(10)/64 = "
      f"{math.log2(10) / 64:.3f} bits/dim)")
per_class = budget(8, 2)
labels = torch.arange(10).repeat_interleave(per_class)
asked = sample(conditional, len(labels), y=labels, generator=torch.Generator().manual_seed(1))
viz.show_images(asked.float() / (LEVELS - 1), "conditional samples: each row asks for one digit (0 to 9)",
                nrow=per_class)
plt.show()

# %% [markdown]
# ## 9. A PixelRNN, and what teacher forcing is
#
# PixelRNN (van den Oord et al. 2016) models the same chain rule with a recurrent network: an LSTM
# reads the pixels in raster order, and its hidden state $h_i$ summarises $x_{<i}$, so the receptive
# field is the whole past from the first layer on (no blind spot, no stack of masks). The paper's
# Row LSTM and Diagonal BiLSTM are two-dimensional designs that advance a whole row, or a whole
# diagonal, per step; we use the plainest form, an LSTM over the sequence of 64 pixels.
#
# **Teacher forcing.** In training, the input at step $i$ is the *true* level of pixel $i - 1$, taken
# from the data, not a level the model drew. Every conditional $p(x_i \mid x_{<i})$ is then
# computed from the ground-truth prefix in one pass over the sequence, and the loss is the same
# negative log-likelihood as the PixelCNN's. At sampling time no ground truth exists: the model is
# *free running*, fed its own draws, a situation it never met in training. The PixelCNN is trained
# the same way (its masked convolutions read the true image); the difference is that an LSTM's pass
# is a loop of 64 dependent steps, where a convolution treats all positions at once.

# %%
class PixelLSTM(nn.Module):
    """p(x_i | x_<i) by an LSTM over the raster sequence: the input at step i is the level of pixel i - 1."""

    def __init__(self, levels: int = LEVELS, hidden: int = 128, embed: int = 16):
        super().__init__()
        self.levels = levels
        self.embed = nn.Embedding(levels + 1, embed)  # index `levels`: the start token before pixel 0
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, levels)

    def step(self, previous: torch.Tensor, state=None):
        """One step, free running: the level just drawn (N x 1) and the state -> logits N x L, new state."""
        h, state = self.lstm(self.embed(previous), state)
        return self.head(h[:, -1]), state

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: the true previous pixels are the inputs. N x 1 x H x W levels -> N x L x H x W logits."""
        n, _, rows, cols = x.shape
        start = torch.full((n, 1), self.levels, dtype=torch.long, device=x.device)
        inputs = torch.cat([start, x.flatten(1)[:, :-1]], dim=1)
        h, _ = self.lstm(self.embed(inputs))
        return self.head(h).transpose(1, 2).reshape(n, self.levels, rows, cols)


@torch.no_grad()
def sample_free_running(model: PixelLSTM, n: int, generator: torch.Generator, prefix: torch.Tensor | None = None):
    """Draw n images with the hidden state carried along: one LSTM step per pixel, fed its own draws.

    With ``prefix`` (N x 1 x H x W levels), its first ``prefix_len`` pixels are fed instead of drawn
    (the rest are drawn), and the log-probability the model gives each *true* pixel of the prefix
    image is returned too: the likelihood of the truth when the model has been reading its own draws.
    """
    model.eval()
    device_ = next(model.parameters()).device
    token = torch.full((n, 1), model.levels, dtype=torch.long)
    state, drawn, true_log_probs = None, [], []
    truth = prefix.flatten(1).cpu() if prefix is not None else None
    for i in range(D):
        logits, state = model.step(token.to(device_), state)
        log_probs = logits.log_softmax(-1).cpu()  # drawn on the CPU, where the generator lives
        if truth is not None:
            true_log_probs.append(log_probs.gather(1, truth[:, i:i + 1]).squeeze(1))
        token = torch.multinomial(log_probs.exp(), 1, generator=generator)
        if truth is not None and i < D // 2:
            token = truth[:, i:i + 1]  # the top half is read from the image; the bottom half is the model's own
        drawn.append(token)
    images = torch.cat(drawn, dim=1).view(n, 1, H, W)
    return (images, torch.stack(true_log_probs, 1)) if truth is not None else images


lstm, lstm_history = trained("pixel-lstm", lambda: PixelLSTM())
results["PixelRNN (LSTM)"] = test_bits_per_dim(lstm)
per_epoch = {"PixelCNN (masked)": plain_history.seconds / EPOCHS, "gated PixelCNN": gated_history.seconds / EPOCHS,
             "PixelRNN (LSTM)": lstm_history.seconds / EPOCHS}
sizes = {name: sum(p.numel() for p in m.parameters()) for name, m in
         (("PixelCNN (masked)", plain), ("gated PixelCNN", gated), ("PixelRNN (LSTM)", lstm))}
start_time = time.perf_counter()
lstm_samples = sample_free_running(lstm, N_SAMPLES, torch.Generator().manual_seed(0))
timings["PixelRNN (LSTM)"] = N_SAMPLES / (time.perf_counter() - start_time)
for name in per_epoch:
    print(f"{name:20s} {results[name]:.3f} bits/dim, {per_epoch[name]:.2f} s per epoch, {sizes[name]:7,d} parameters, "
          f"{timings[name]:.0f} samples/s")

# teacher-forced against free-running likelihood of the true bottom halves of held-out digits
x_eval = x_test[:budget(len(x_test), 64)]
with torch.no_grad():
    forced = -F.log_softmax(lstm(x_eval.to(device)).cpu(), dim=1).gather(1, x_eval).flatten(1)  # N x D, nats per pixel
_, free_log_probs = sample_free_running(lstm, len(x_eval), torch.Generator().manual_seed(1), prefix=x_eval)
free = -free_log_probs
bottom = slice(D // 2, D)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [1.3, 1]})
positions = np.arange(D // 2, D)
axes[0].plot(positions, forced[:, bottom].mean(0), label="teacher forced: reads the true pixels")
axes[0].plot(positions, free[:, bottom].mean(0), label="free running: reads its own draws")
axes[0].set_xlabel("raster position of the pixel (bottom half)")
axes[0].set_ylabel("-log p(true pixel), nats")
axes[0].set_title("the same LSTM, the same true bottom halves")
axes[0].legend()
viz.show_images(lstm_samples[:24].float() / (LEVELS - 1), "PixelRNN (LSTM): free-running samples", nrow=8, ax=axes[1])
plt.tight_layout()
plt.show()
teacher_nats, free_nats = forced[:, bottom].sum(1).mean().item(), free[:, bottom].sum(1).mean().item()

# %%
faster_training = per_epoch["PixelRNN (LSTM)"] < per_epoch["gated PixelCNN"]
faster_sampling = timings["PixelRNN (LSTM)"] > timings["gated PixelCNN"]
say(f"""
**What the numbers show.** The LSTM reaches **{results['PixelRNN (LSTM)']:.3f}** bits/dim, against
{results['gated PixelCNN']:.3f} for the gated PixelCNN and {results['PixelCNN (masked)']:.3f} for the masked one. An epoch
takes it **{per_epoch['PixelRNN (LSTM)']:.2f} s**, {'less' if faster_training else 'more'} than the gated PixelCNN's
{per_epoch['gated PixelCNN']:.2f} s, with {sizes['PixelRNN (LSTM)']:,} parameters against {sizes['gated PixelCNN']:,}.
{'At 64 pixels the recurrence' + chr(39) + 's 64 dependent steps are cheap on a CPU: "RNNs are slow to train" is about'
 if faster_training else 'The recurrence' + chr(39) + 's 64 dependent steps already cost more here, and the gap grows with'}
long sequences and parallel hardware: a 28 x 28 image is 784 dependent steps, and a GPU can run a convolution's
positions at once but not a recurrence's. In sampling, carrying its hidden state, the LSTM takes one step per pixel
and draws {timings['PixelRNN (LSTM)']:.0f} images/s, {'more' if faster_sampling else 'fewer'} than the gated PixelCNN's
{timings['gated PixelCNN']:.0f}, which runs its whole network 64 times (without the caching of section 6).

**What teacher forcing hides.** On the true bottom halves of held-out digits, the teacher-forced model pays
**{teacher_nats:.1f}** nats per half; run free from the middle on, reading its own draws, it pays **{free_nats:.1f}**
for the same true pixels. Training and likelihood evaluation only ever see the first situation; generation lives in
the second, where each draw that departs from the truth changes every later conditional.
""")

# %% [markdown]
# ## 10. Summary
#
# * The chain rule turns density estimation into a sequence of classification problems:
#   $p(x) = \prod_i p(x_i \mid x_{<i})$ is exact, so the likelihood is computed, not bounded.
# * Masked convolutions compute all conditionals in one pass (fast training), and the masks are
#   verified by gradients; stacked masks leave a blind spot that the gated two-stack design removes.
# * Sampling needs one network pass per pixel: slow, but it can complete images and follow a label.
# * A PixelRNN computes the same conditionals with a recurrence, trained with teacher forcing (the
#   true prefix as input); sampling runs it free, on its own draws.
#
# **✎ Question.** The PixelCNN computes its likelihood exactly, where lesson 02's VAE only bounds
# its own (the two numbers are not comparable here: the VAE modelled binarised pixels, the
# PixelCNN 17 grey levels). Yet nothing in the PixelCNN learns a code $z$. What does it give up,
# compared with the VAE?

# %% [markdown] id="answer-no-latent" points=2
# ### BEGIN SOLUTION
# A latent representation: there is no encoder, no code to interpolate in or to use as features,
# and no fast sampling (a VAE samples in one decoder pass, a PixelCNN needs one pass per pixel).
# Global structure is learnt only implicitly, pixel by pixel.
# ### END SOLUTION

# %%
metrics = {
    "test_bits_per_dim_pixelcnn": results["PixelCNN (masked)"],
    "test_bits_per_dim_gated": results["gated PixelCNN"],
    "test_bits_per_dim_conditional_gated": conditional_bpd,
    "test_bits_per_dim_independent": results["independent pixels"],
    "test_bits_per_dim_gaussian_mixture": results["Gaussian mixture (10, dequantised)"],
    "test_nll_nats_gated": results["gated PixelCNN"] * D * math.log(2),
    "samples_per_second_gated": timings["gated PixelCNN"],
    "test_bits_per_dim_pixel_lstm": results["PixelRNN (LSTM)"],
    "seconds_per_epoch_gated": per_epoch["gated PixelCNN"],
    "seconds_per_epoch_pixel_lstm": per_epoch["PixelRNN (LSTM)"],
    "samples_per_second_pixel_lstm": timings["PixelRNN (LSTM)"],
    "bottom_half_nats_teacher_forced": teacher_nats,
    "bottom_half_nats_free_running": free_nats,
}
summary = (f"held-out bits/dim: gated {metrics['test_bits_per_dim_gated']:.3f}, LSTM "
           f"{metrics['test_bits_per_dim_pixel_lstm']:.3f}, masked "
           f"{metrics['test_bits_per_dim_pixelcnn']:.3f}, independent {metrics['test_bits_per_dim_independent']:.3f}, "
           f"Gaussian mixture {metrics['test_bits_per_dim_gaussian_mixture']:.3f}; "
           f"{metrics['samples_per_second_gated']:.0f} samples/s")
record("03_pixelcnn", metrics, summary);
