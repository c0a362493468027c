# %% [markdown]
# # Generative Models, Hands-On: lecture dashboard
#
# Three widgets on trained models, to show in class. Move a slider and the image follows.
#
# The models are the lessons' own, built from the same cells the students read: the VAE of
# lesson 02 and the baseline GAN on the ring of lesson 04 (the explorer replays its training).
# `make demo` loads them from the checkpoints that `make run` made, or trains them first in the
# terminal (about 15 s and 10 s on a laptop CPU), with a progress bar. Sections 4 and 5 show the
# 28 × 28 VAE and DCGAN of the MNIST track when `make run-mnist` has left their checkpoints; the
# dashboard only loads those, it never trains them.

# %%
from IPython.display import clear_output

from course_utils import fast_mode, get_device, widgets
from course_tools import demo

models = demo.lecture_models()
clear_output()  # progress bars, if a model was trained here rather than by `make demo` beforehand
print(f"device: {get_device()}" + ("; fast mode: tiny models, for tests only" if fast_mode() else ""))
print(models.summary)

# %% [markdown]
# ## 1. Latent perturbation (lesson 02, VAE with $k = 8$)
#
# Pick a held-out digit and a coordinate $z_i$ of its code $\mu_\phi(x)$, and slide that coordinate
# while the other seven stay fixed. The decoded image is $\mathbb{E}[x \mid z] = \sigma(\text{logits})$.

# %%
widgets.LatentPerturbation(models.decode, models.codes, images=models.images, labels=models.labels)

# %% [markdown]
# ## 2. Interpolation (lesson 02)
#
# Walk from one digit's code to another's, $z_t = (1 - t)\,z_0 + t\,z_1$ (top strip) and along the
# sphere (bottom strip); the image on the right is the one at $t$.

# %%
widgets.Interpolation(models.decode, models.codes, steps=9, start=0, end=5, scale=10)

# %% [markdown]
# ## 3. Mode-collapse explorer (lesson 04, a GAN on a ring of 8 Gaussians)
#
# Black points are data, orange points are generated from the same 1,000 noise vectors at every
# snapshot, and the background is $D(x)$ (red: "real"). Slide through training, or press play:
# the generator lays a string of points through the modes and never covers them all.

# %%
widgets.ModeCollapseExplorer(models.snapshots, models.ring, models.extent, title="GAN on the ring")

# %% [markdown]
# ## 4. The VAE on 28 × 28 MNIST (lesson 02 on the MNIST track)
#
# The same latent perturbation on lesson 02's VAE of the MNIST track ($k = 16$), which a projector
# shows far better than 8 × 8 digits. It appears once a run on that track has left its checkpoint
# (`make run-mnist`); until then this cell says so.

# %%
models.mnist.perturbation() if models.mnist is not None else print(models.summary.splitlines()[-2])

# %% [markdown]
# ## 5. The DCGAN on 28 × 28 MNIST (lesson 04 on the MNIST track)
#
# Walk between two of sixteen draws $z \sim \mathcal{N}(0, I)$ of lesson 04's DCGAN on the MNIST
# track: $G(z_t)$ along the line and along the sphere. A GAN has no encoder, so the ends are prior
# samples, not held-out digits. It appears once `make run-mnist` has left its checkpoint.

# %%
models.mnist_gan.interpolation() if models.mnist_gan is not None else print(models.summary.splitlines()[-1])
