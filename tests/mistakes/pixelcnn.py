"""Lesson 03 (PixelCNN): the typical mistakes of each graded exercise, as a student would write them."""

from __future__ import annotations

from . import Mistake, edited

SAMPLE_IGNORES_START = """
@torch.no_grad()
def sample(model, n, shape=(1, 8, 8), levels=LEVELS, y=None, x=None, start=0, generator=None):
    _, rows, cols = shape
    device_ = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.zeros(n, *shape, dtype=torch.long) if x is None else x.clone().long()
    x = x.to(device_)
    y = y.to(device_) if y is not None else None
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        probs = model(x, y)[:, :, r, c].softmax(dim=-1)
        x[:, 0, r, c] = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(device_)
    return x.cpu()
"""

SAMPLE_IGNORES_X = """
@torch.no_grad()
def sample(model, n, shape=(1, 8, 8), levels=LEVELS, y=None, x=None, start=0, generator=None):
    _, rows, cols = shape
    x = torch.zeros(n, *shape, dtype=torch.long)
    for i in range(start, rows * cols):
        r, c = divmod(i, cols)
        probs = model(x, y)[:, :, r, c].softmax(dim=-1)
        x[:, 0, r, c] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return x
"""

SAMPLE_ARGMAX = """
@torch.no_grad()
def sample(model, n, shape=(1, 8, 8), levels=LEVELS, y=None, x=None, start=0, generator=None):
    _, rows, cols = shape
    x = torch.zeros(n, *shape, dtype=torch.long) if x is None else x.clone().long()
    for i in range(start, rows * cols):
        r, c = divmod(i, cols)
        x[:, 0, r, c] = model(x, y)[:, :, r, c].argmax(dim=1)
    return x
"""

MASK_TYPES_SWAPPED = """
def causal_mask(k, mask_type):
    mask = torch.zeros(k, k)
    centre = k // 2
    mask[:centre, :] = 1.0
    mask[centre, :centre] = 1.0
    if mask_type == "A":
        mask[centre, centre] = 1.0
    return mask
"""

MASKED_CONV_WITHOUT_BIAS = """
class MaskedConv2d(nn.Conv2d):
    def __init__(self, c_in, c_out, k, mask_type):
        super().__init__(c_in, c_out, k, padding=k // 2)
        self.register_buffer("mask", causal_mask(k, mask_type))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, padding=self.padding)
"""

MASKED_ONCE_IN_INIT = """
class MaskedConv2d(nn.Conv2d):
    def __init__(self, c_in, c_out, k, mask_type):
        super().__init__(c_in, c_out, k, padding=k // 2)
        self.register_buffer("mask", causal_mask(k, mask_type))
        with torch.no_grad():
            self.weight *= self.mask

    def forward(self, x):
        return super().forward(x)
"""

NLL_MEAN_OVER_PIXELS = """
def pixel_nll(logits, x):
    return F.cross_entropy(logits, x[:, 0], reduction="none").flatten(1).mean(1)
"""


def _gated(*replacements: tuple[str, str]) -> str:
    """The solution's gated layer with parts of it replaced: a wrong answer."""
    return edited("03_pixelcnn", "ex-gated-layer", *replacements)


_V_CROP = ("self.vertical(v)[:, :, :rows, :]", "self.vertical(v)[:, :, 1:rows + 1, :]")
_H_CROP = ("self.horizontal(h)[:, :, :, :cols]", "self.horizontal(h)[:, :, :, 1:cols + 1]")
_V_SHIFT = ("v_shifted = F.pad(v_features, (0, 0, 1, 0))[:, :, :rows, :]", "v_shifted = v_features")
_RESIDUAL = ("return v_out, (h_out if self.first else h + h_out)", "return v_out, h_out")
_A_SHIFT = ("            h_features = F.pad(h_features, (1, 0))[:, :, :, :cols]", "            pass")
_GATE = ("f, g = a.chunk(2, dim=1)", "g, f = a.chunk(2, dim=1)")
_BIAS = ("        if class_bias is not None:\n            a = a + class_bias[:, :, None, None]\n", "")
_RELU = ("return torch.tanh(f) * torch.sigmoid(g)", "return torch.relu(f)")

#: the gated layer (exercise 3 of lesson 03): each mistake, and a phrase of the hint that names it
GATED = [
    Mistake("gated centred crops", "check-gated-layer", _gated(_V_CROP, _H_CROP), "keep the first rows"),
    Mistake("gated vertical centred crop", "check-gated-layer", _gated(_V_CROP), "keep the first rows"),
    Mistake("gated vertical not shifted", "check-gated-layer", _gated(_V_SHIFT), "one row down"),
    Mistake("gated type a sees itself", "check-gated-layer", _gated(_A_SHIFT), "a pixel never sees itself"),
    Mistake("gated no residual", "check-gated-layer", _gated(_RESIDUAL), "add the layer's input h"),
    Mistake(
        "gated residual in first layer",
        "check-gated-layer",
        _gated(
            (
                "return v_out, (h_out if self.first else h + h_out)",
                "return v_out, h + h_out if h.shape == h_out.shape else h_out",
            )
        ),
        "the first layer has no residual",
    ),
    Mistake(
        "gated halves swapped", "check-gated-layer", _gated(_GATE), "first half of the channels and goes through tanh"
    ),
    Mistake("gated class ignored", "check-gated-layer", _gated(_BIAS), "add the class embedding"),
    Mistake("gated relu", "check-gated-layer", _gated(_RELU), "tanh of the first half"),
    Mistake(
        "gated shift after the 1x1 convolution",
        "check-gated-layer",
        _gated(
            ("v_shifted = F.pad(v_features, (0, 0, 1, 0))[:, :, :rows, :]", "v_shifted = v_features"),
            (
                "self.vertical_to_horizontal(v_shifted)",
                "F.pad(self.vertical_to_horizontal(v_shifted), (0, 0, 1, 0))[:, :, :rows, :]",
            ),
        ),
        "before the 1x1 convolution",
    ),
    Mistake(
        "gated last rows kept",
        "check-gated-layer",
        _gated(("self.vertical(v)[:, :, :rows, :]", "self.vertical(v)[:, :, -rows:, :]")),
        "keep the first rows",
    ),
    Mistake(
        "gated class bias horizontal only",
        "check-gated-layer",
        _gated(("v_out = self.gate(v_features, class_bias)", "v_out = self.gate(v_features, None)")),
        "the vertical one too",
    ),
    Mistake(
        "gated residual in first layer crashes",
        "check-gated-layer",
        _gated(("return v_out, (h_out if self.first else h + h_out)", "return v_out, h + h_out")),
        "the first layer has no residual",
    ),
]


MISTAKES = [
    *GATED,
    # the wrong answer that used to pass the check and get full marks, and a variant of it
    Mistake("sample ignores start", "check-sample", SAMPLE_IGNORES_START, "the pixels before start were drawn again"),
    Mistake("sample ignores x", "check-sample", SAMPLE_IGNORES_X, "the pixels before start should come from x"),
    # more plausible mistakes
    Mistake("sample takes the argmax", "check-sample", SAMPLE_ARGMAX, "do not take the argmax"),
    Mistake(
        "every pixel drawn at once",
        "check-sample",
        """
@torch.no_grad()
def sample(model, n, shape=(1, 8, 8), levels=LEVELS, y=None, x=None, start=0, generator=None):
    x = torch.zeros(n, *shape, dtype=torch.long)
    probs = model(x, y).permute(0, 2, 3, 1).softmax(-1)
    return torch.multinomial(probs.reshape(-1, levels), 1, generator=generator).view(n, *shape)
""",
        "raster order",
    ),
    Mistake("mask types swapped", "check-causal-mask", MASK_TYPES_SWAPPED, "type A must hide the centre pixel"),
    Mistake(
        "mask of type B for both",
        "check-causal-mask",
        edited("03_pixelcnn", "ex-causal-mask", ('if mask_type == "B"', "if True")),
        "type A must hide the centre pixel",
    ),
    Mistake(
        "lower-triangular mask",
        "check-causal-mask",
        """
def causal_mask(k, mask_type):
    return torch.tril(torch.ones(k, k))
""",
        "causal_mask(3, 'A')",
    ),
    Mistake("masked conv without its bias", "check-masked-conv", MASKED_CONV_WITHOUT_BIAS, "misses the layer's bias"),
    Mistake("weights masked once in __init__", "check-masked-conv", MASKED_ONCE_IN_INIT, "apply the mask in forward"),
    Mistake("nll averaged over the pixels", "check-pixel-nll", NLL_MEAN_OVER_PIXELS, "do not average them"),
    Mistake(
        "bits per dim without ln 2",
        "check-pixel-nll",
        """
def bits_per_dim(nll, n_dims):
    return nll / n_dims
""",
        "by ln 2",
    ),
]
