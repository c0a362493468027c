"""Lesson 02 (VAE): the typical mistakes of each graded exercise, as a student would write them."""

from __future__ import annotations

from . import Mistake

_ELBO = """
def negative_elbo(x, logits, mu, log_var, beta=1.0):
    recon = {recon}
    kl = {kl}
    return {{"loss": {loss}, "recon": recon, "kl": {kl_out}}}
"""


def _elbo(
    recon: str = 'F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()',
    kl: str = "gaussian_kl(mu, log_var).mean()",
    loss: str = "recon + beta * kl",
    kl_out: str = "kl",
) -> str:
    return _ELBO.format(recon=recon, kl=kl, loss=loss, kl_out=kl_out)


def _reparameterize(eps: str) -> str:
    return f"""
def reparameterize(mu, log_var):
    eps = {eps}
    return mu + torch.exp(0.5 * log_var) * eps
"""


def _kl(body: str) -> str:
    return f"""
def gaussian_kl(mu, log_var):
    return {body}
"""


_NO_KL_GRADIENT = "the KL term carries no gradient"
_LOGITS_HINT = "binary_cross_entropy_with_logits"
_OLD_SIGMA_HINT = "sigma² = exp(log_var)"


def _gumbel(
    noise: str = "-torch.log(-torch.log(torch.rand_like(logits).clamp_min(1e-10)))",
    scaled: str = "(logits + g) / tau",
    hard: str = "one_hot + y - y.detach()",
) -> str:
    return f"""
def gumbel_softmax(logits, tau, hard=False):
    g = {noise}
    y = torch.softmax({scaled}, dim=-1)
    if not hard:
        return y
    one_hot = F.one_hot(y.argmax(dim=-1), y.shape[-1]).to(y.dtype)
    return {hard}
"""


GUMBEL = [
    Mistake(
        "Gaussian noise instead of Gumbel noise",
        "check-gumbel-softmax",
        _gumbel(noise="torch.randn_like(logits)"),
        "the noise is not Gumbel noise",
    ),
    Mistake(
        "one logarithm: exponential noise",
        "check-gumbel-softmax",
        _gumbel(noise="-torch.log(torch.rand_like(logits).clamp_min(1e-10))"),
        "the noise is not Gumbel noise",
    ),
    Mistake(
        "no noise at all",
        "check-gumbel-softmax",
        _gumbel(noise="torch.zeros_like(logits)"),
        "add noise to the logits",
    ),
    Mistake(
        "temperature multiplied",
        "check-gumbel-softmax",
        _gumbel(scaled="(logits + g) * tau"),
        "divide the noisy logits by the temperature",
    ),
    Mistake("hard sample cut from the graph", "check-gumbel-softmax", _gumbel(hard="one_hot"), "straight-through"),
    Mistake(
        "hard ignored: the relaxed sample returned",
        "check-gumbel-softmax",
        _gumbel(hard="y"),
        "exactly one-hot",
    ),
]


_VAE = """
class VAE(nn.Module):
    def __init__(self, d_latent, image_shape=(1, 8, 8), d_hidden=256):
        super().__init__()
        self.d_latent, self.image_shape = d_latent, tuple(image_shape)
        d_in = {d_in}
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d_in, d_hidden), {activation}(),
                                     nn.Linear(d_hidden, d_hidden), nn.ReLU(),
                                     nn.Linear(d_hidden, 2 * d_latent){encoder_end})
        self.decoder = nn.Sequential(nn.Linear(d_latent, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_hidden), nn.ReLU(),
                                     nn.Linear(d_hidden, d_in){decoder_end})

    def encode(self, x):
        {split} = self.encoder(x).chunk(2, dim=-1)
        return mu, {log_var}

    def decode(self, z):
        return {decode}

    def mean_image(self, z):
        return torch.sigmoid(self.decode(z))


def vae_loss(beta=1.0, deterministic=False):
    def loss_fn(model, batch):
        x = batch[0]
        mu, log_var = model.encode(x)
        z = {z}
        return negative_elbo(x, {logits}, mu, log_var{beta})
    return loss_fn
"""


def _vae(**changes: str) -> str:
    parts = {
        "d_in": "int(np.prod(image_shape))",
        "activation": "nn.ReLU",
        "encoder_end": "",
        "decoder_end": "",
        "split": "mu, log_var",
        "log_var": "log_var",
        "decode": "self.decoder(z).view(-1, *self.image_shape)",
        "z": "mu if deterministic else reparameterize(mu, log_var)",
        "logits": "model.decode(z)",
        "beta": ", beta",
    }
    return _VAE.format(**{**parts, **changes})


#: the VAE and its loss (exercise 4 of lesson 02)
VAE_MODEL = [
    Mistake(name, "check-vae-model", _vae(**changes), hint)
    for name, changes, hint in [
        ("a sigmoid at the decoder's end", {"decoder_end": ", nn.Sigmoid()"}, "decode returns logits"),
        (
            "a ReLU after the encoder's last layer",
            {"encoder_end": ", nn.ReLU()"},
            "no activation after the last layers",
        ),
        ("log_var through a softplus", {"log_var": "F.softplus(log_var)"}, "no activation after the last layers"),
        ("mu and log_var swapped", {"split": "log_var, mu"}, "mu is the first d_latent outputs"),
        ("64 pixels written in", {"d_in": "64"}, "from image_shape"),
        ("decode returns flat vectors", {"decode": "self.decoder(z)"}, "reshape the logits"),
        ("tanh in the encoder", {"activation": "nn.Tanh"}, "ReLU between them"),
        ("z = mu always", {"z": "mu"}, "draw z with your reparameterize"),
        ("a sample even when deterministic", {"z": "reparameterize(mu, log_var)"}, "the code is mu itself"),
        ("beta not passed on", {"beta": ""}, "pass beta on"),
        ("probabilities to the loss", {"logits": "model.mean_image(z)"}, "not probabilities"),
        (
            "sigma = exp(log_var)",
            {"z": "mu if deterministic else mu + log_var.exp() * torch.randn_like(mu)"},
            "sigma = exp(log_var / 2)",
        ),
        (
            "mu cut from the graph",
            {"z": "mu if deterministic else reparameterize(mu.detach(), log_var)"},
            "reparameterisation trick",
        ),
    ]
]


MISTAKES = [
    Mistake(
        "kl detached (batch mean)",
        "check-negative-elbo",
        _elbo(kl="gaussian_kl(mu, log_var).mean().detach()"),
        _NO_KL_GRADIENT,
        (_LOGITS_HINT, "sigma"),
    ),
    Mistake(
        "kl detached (sum over the batch, then divided)",
        "check-negative-elbo",
        _elbo(kl="gaussian_kl(mu, log_var).sum().detach() / len(x)"),
        _NO_KL_GRADIENT,
        (_LOGITS_HINT, "sigma"),
    ),
    Mistake(
        "one noise value per example (len)",
        "check-reparameterize",
        _reparameterize("torch.randn(len(mu), 1)"),
        "the latent dimensions of z move together",
    ),
    Mistake(
        "one noise value per example (shape)",
        "check-reparameterize",
        _reparameterize("torch.randn(mu.shape[0], 1)"),
        "the latent dimensions of z move together",
    ),
    Mistake(
        "negative ELBO summed over the batch",
        "check-negative-elbo",
        _elbo(
            recon='F.binary_cross_entropy_with_logits(logits, x, reduction="sum")', kl="gaussian_kl(mu, log_var).sum()"
        ),
        "do not add them up",
        (_LOGITS_HINT,),
    ),
    Mistake(
        "KL averaged over the latent dimensions",
        "check-gaussian-kl",
        _kl("0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).mean(dim=-1)"),
        "a sum over them, not an average",
        (_OLD_SIGMA_HINT,),
    ),
    Mistake(
        "KL turned into a number",
        "check-negative-elbo",
        _elbo(kl="gaussian_kl(mu, log_var).mean().item()", kl_out="torch.tensor(kl)"),
        _NO_KL_GRADIENT,
    ),
    Mistake(
        "one noise value per latent dimension, shared by the batch",
        "check-reparameterize",
        _reparameterize("torch.randn(mu.shape[-1])"),
        "every example needs its own noise",
    ),
    Mistake(
        "beta on the reconstruction term",
        "check-negative-elbo",
        _elbo(loss="beta * recon + kl"),
        "beta weighs the KL term",
    ),
    Mistake(
        "KL inline, averaged over every element",
        "check-negative-elbo",
        _elbo(kl="0.5 * (mu**2 + log_var.exp() - 1 - log_var).mean()"),
        "add the latent dimensions up",
    ),
    Mistake(
        "sigma where sigma² belongs",
        "check-gaussian-kl",
        _kl("0.5 * (mu.pow(2) + torch.exp(0.5 * log_var) - 1.0 - log_var).sum(dim=-1)"),
        "check which of sigma, sigma² and log sigma²",
    ),
    Mistake(
        "the slides' sign",
        "check-gaussian-kl",
        _kl("-0.5 * (log_var.exp() + mu.pow(2) - 1.0 - log_var).sum(dim=-1)"),
        "never negative",
        (_OLD_SIGMA_HINT,),
    ),
    Mistake(
        "negative ELBO averaged over the pixels",
        "check-negative-elbo",
        _elbo(recon="F.binary_cross_entropy_with_logits(logits, x)"),
        "sum the pixel terms",
    ),
    Mistake(
        "cross-entropy from probabilities",
        "check-negative-elbo",
        _elbo(
            recon="-(x * torch.sigmoid(logits).log() + (1 - x) * (1 - torch.sigmoid(logits)).log())"
            ".flatten(1).sum(1).mean()"
        ),
        "…_with_logits",
    ),
    Mistake(
        "the logged KL weighted by beta",
        "check-negative-elbo",
        _elbo(kl_out="beta * kl"),
        "the logged term is unweighted",
    ),
    Mistake(
        "sigma = exp(log_var)",
        "check-reparameterize",
        _reparameterize("torch.randn_like(mu)").replace("torch.exp(0.5 * log_var)", "torch.exp(log_var)"),
        "sigma = exp(log_var / 2)",
    ),
    Mistake(
        "a sample from torch.distributions",
        "check-reparameterize",
        """
def reparameterize(mu, log_var):
    return torch.distributions.Normal(mu, (0.5 * log_var).exp()).sample()
""",
        ".sample() cuts the gradient",
    ),
    Mistake(
        "KL without the factor ½",
        "check-gaussian-kl",
        _kl("(mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=-1)"),
        "factor ½",
    ),
    Mistake(
        "one KL for the whole batch",
        "check-gaussian-kl",
        _kl("0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum()"),
        "one KL per example",
    ),
    Mistake(
        "IWAE bound: the mean of the log weights",
        "check-iwae-bound",
        """
def iwae_bound(log_w):
    return log_w.mean(0)
""",
        "average the weights",
    ),
    Mistake(
        "IWAE bound: exp, mean, log",
        "check-iwae-bound",
        """
def iwae_bound(log_w):
    return log_w.exp().mean(0).log()
""",
        "logsumexp",
    ),
    *GUMBEL,
    *VAE_MODEL,
]
