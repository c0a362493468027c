# %% [markdown]
# # Generative Models, Hands-On: lecture dashboard
#
# Three widgets on trained models, to show in class. Move a slider and the image follows.
#
# The models are the lessons' own, built from the same cells the students read: the VAE of
# lesson 02 (loaded from the checkpoint that `make run` made, or trained now, about 45 s on a
# laptop CPU) and the baseline GAN on the ring of lesson 04 (trained now, about 10 s; the explorer
# replays its training). A progress bar shows while a model trains.

# %%
import torch
from IPython.display import clear_output

from course_utils import data, fast_mode, get_device, train, widgets
from course_utils.build import lesson_namespace

device = get_device()
print(f"device: {device}" + ("; fast mode: tiny models, for tests only" if fast_mode() else ""))

# %% [markdown]
# ## 1. Latent perturbation (lesson 02, VAE with $k = 8$)
#
# Pick a held-out digit and a coordinate $z_i$ of its code $\mu_\phi(x)$, and slide that coordinate
# while the other seven stay fixed. The decoded image is $\mathbb{E}[x \mid z] = \sigma(\text{logits})$.

# %%
vae_lesson = lesson_namespace(
    "02_vae", ["ex-reparameterize", "ex-gaussian-kl", "ex-negative-elbo", "vae-model", "vae-training"],
    constants={"train_set": data.load("digits", "train", binarize=True)}, quiet=True,
)
vae, history = vae_lesson["trained_vae"](8)
clear_output()  # the finished progress bar (its widget is closed; Voila would show "Loading widget...")
print(f"VAE: {history.seconds:.0f} s of training; its checkpoint is kept in {train.checkpoint_dir()}")
test_set = data.load("digits", "test", binarize=True)
with torch.no_grad():
    codes = vae.encode(test_set.x.to(device))[0].cpu()
widgets.LatentPerturbation(vae.mean_image, codes, images=test_set.x, labels=[str(int(y)) for y in test_set.y])

# %% [markdown]
# ## 2. Interpolation (lesson 02)
#
# Walk from one digit's code to another's, $z_t = (1 - t)\,z_0 + t\,z_1$ (top strip) and along the
# sphere (bottom strip); the image on the right is the one at $t$.

# %%
widgets.Interpolation(vae.mean_image, codes, steps=9, start=0, end=5, scale=10)

# %% [markdown]
# ## 3. Mode-collapse explorer (lesson 04, a GAN on a ring of 8 Gaussians)
#
# Black points are data, orange points are generated from the same 1,000 noise vectors at every
# snapshot, and the background is $D(x)$ (red: "real"). Slide through training, or press play:
# the generator lays a string of points through the modes and never covers them all.

# %%
gan_lesson = lesson_namespace(
    "04_gan", ["ex-discriminator-loss", "ex-generator-loss", "ex-gan-step", "gan-2d-models", "gan-2d-run"], quiet=True,
)
_, snapshots, coverage, seconds = gan_lesson["run_2d"]("ring", False)
clear_output()
print(f"GAN trained in {seconds:.0f} s; after training: {coverage}")
widgets.ModeCollapseExplorer(snapshots, data.load("ring", n=2000, seed=0).x, gan_lesson["EXTENT"]["ring"],
                             title="GAN on the ring")
