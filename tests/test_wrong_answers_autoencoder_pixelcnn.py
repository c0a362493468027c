"""Wrong answers to lessons 01 (autoencoder) and 03 (PixelCNN): each fails its check with a hint that
names the mistake, and loses marks with the grader on every grading seed; the solution's own
exercise cells keep full marks, and the untouched stubs read "not done yet"."""

from __future__ import annotations

import jupytext
import nbformat
import pytest
from wrong_answers import ROOT, SEEDS, check_output, probe_shares

LESSONS = ("01_autoencoder", "03_pixelcnn")

# ------------------------------------------------------------------------------------------------
# Lesson 01
# ------------------------------------------------------------------------------------------------
AUTOENCODER_RELU_CODE = """
class Autoencoder(nn.Module):
    def __init__(self, d_latent, image_shape=(1, 8, 8), d_hidden=128):
        super().__init__()
        self.image_shape = tuple(image_shape)
        d_in = int(np.prod(image_shape))
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(d_in, d_hidden), nn.ReLU(),
            nn.Linear(d_hidden, d_hidden), nn.ReLU(),
            nn.Linear(d_hidden, d_latent), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.Linear(d_latent, d_hidden), nn.ReLU(),
            nn.Linear(d_hidden, d_hidden), nn.ReLU(),
            nn.Linear(d_hidden, d_in), nn.Sigmoid(),
        )

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z).view(-1, *self.image_shape)

    def forward(self, x):
        return self.decode(self.encode(x))
"""

AUTOENCODER_SIGMOID_CODE = AUTOENCODER_RELU_CODE.replace(
    "nn.Linear(d_hidden, d_latent), nn.ReLU()", "nn.Linear(d_hidden, d_latent), nn.Sigmoid()"
)

AUTOENCODER_NO_SIGMOID = AUTOENCODER_RELU_CODE.replace(
    "nn.Linear(d_hidden, d_latent), nn.ReLU()", "nn.Linear(d_hidden, d_latent)"
).replace("nn.Linear(d_hidden, d_in), nn.Sigmoid()", "nn.Linear(d_hidden, d_in)")

# the scaler refitted on the test features (fit_transform called twice)
PROBE_REFIT_ON_TEST = """
def probe_accuracy(f_train, y_train, f_test, y_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    train_features = scaler.fit_transform(f_train.numpy())
    test_features = scaler.fit_transform(f_test.numpy())
    classifier = LogisticRegression(max_iter=1000).fit(train_features, y_train.numpy())
    return float(classifier.score(test_features, y_test.numpy()))
"""

# one scaler, fitted on the test features and applied to both sets
PROBE_FIT_ON_TEST = """
def probe_accuracy(f_train, y_train, f_test, y_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(f_test.numpy())
    classifier = LogisticRegression(max_iter=1000).fit(scaler.transform(f_train.numpy()), y_train.numpy())
    return float(classifier.score(scaler.transform(f_test.numpy()), y_test.numpy()))
"""

PROBE_SCORED_ON_TRAIN = """
def probe_accuracy(f_train, y_train, f_test, y_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    classifier.fit(f_train.numpy(), y_train.numpy())
    return float(classifier.score(f_train.numpy(), y_train.numpy()))
"""

TRANSPOSE_PADDING_SIGN = """
def conv_transpose_output_size(i, k, s=1, p=0):
    return (i - 1) * s + 2 * p + k
"""

TRANSPOSE_OFF_BY_ONE = """
def conv_transpose_output_size(i, k, s=1, p=0):
    return i * s - 2 * p + k - 1
"""

CONV_WITHOUT_PLUS_ONE = """
def conv_output_size(i, k, s=1, p=0):
    return (i + 2 * p - k) // s
"""

LOSS_MEAN_OVER_PIXELS = """
def reconstruction_loss(x, x_hat):
    return torch.nn.functional.mse_loss(x_hat, x)
"""

LABEL_SUBSET_UNSEEDED = """
def label_subset(y, n_per_class, seed=0):
    chosen = []
    for c in torch.unique(y):
        members = torch.nonzero(y == c).flatten()
        chosen.append(members[torch.randperm(len(members))[:n_per_class]])
    return torch.cat(chosen)
"""

# ------------------------------------------------------------------------------------------------
# Lesson 03
# ------------------------------------------------------------------------------------------------
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


def _cells(lesson: str, prefix: str, notebook: bool) -> dict[str, str]:
    """Cell id -> source of the cells whose id starts with ``prefix``: the solution, or the students' notebook."""
    if notebook:
        cells = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4).cells
        ids = [c.get("id", "") for c in cells]
    else:
        cells = jupytext.read(ROOT / "solutions" / f"{lesson}.py").cells
        ids = [c.metadata.get("id", "") for c in cells]
    return {i: c.source for i, c in zip(ids, cells) if i.startswith(prefix)}


def _gated(*replacements: tuple[str, str]) -> str:
    """Lesson 03's gated layer (the solution's cell) with parts of it replaced: a wrong answer."""
    source = _cells("03_pixelcnn", "ex-gated", notebook=False)["ex-gated-layer"]
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new, 1)
    return source


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
    pytest.param(
        "03_pixelcnn", "check-gated-layer", _gated(_V_CROP, _H_CROP), "keep the first rows", id="gated-centred-crops"
    ),
    pytest.param(
        "03_pixelcnn", "check-gated-layer", _gated(_V_CROP), "keep the first rows", id="gated-vertical-centred-crop"
    ),
    pytest.param("03_pixelcnn", "check-gated-layer", _gated(_V_SHIFT), "one row down", id="gated-vertical-not-shifted"),
    pytest.param(
        "03_pixelcnn", "check-gated-layer", _gated(_A_SHIFT), "a pixel never sees itself", id="gated-type-a-sees-itself"
    ),
    pytest.param(
        "03_pixelcnn", "check-gated-layer", _gated(_RESIDUAL), "add the layer's input h", id="gated-no-residual"
    ),
    pytest.param(
        "03_pixelcnn",
        "check-gated-layer",
        _gated(
            (
                "return v_out, (h_out if self.first else h + h_out)",
                "return v_out, h + h_out if h.shape == h_out.shape else h_out",
            )
        ),
        "the first layer has no residual",
        id="gated-residual-in-first-layer",
    ),
    pytest.param(
        "03_pixelcnn",
        "check-gated-layer",
        _gated(_GATE),
        "first half of the channels and goes through tanh",
        id="gated-halves-swapped",
    ),
    pytest.param(
        "03_pixelcnn", "check-gated-layer", _gated(_BIAS), "add the class embedding", id="gated-class-ignored"
    ),
    pytest.param("03_pixelcnn", "check-gated-layer", _gated(_RELU), "tanh of the first half", id="gated-relu"),
    pytest.param(
        "03_pixelcnn",
        "check-gated-layer",
        _gated(
            ("v_shifted = F.pad(v_features, (0, 0, 1, 0))[:, :, :rows, :]", "v_shifted = v_features"),
            (
                "self.vertical_to_horizontal(v_shifted)",
                "F.pad(self.vertical_to_horizontal(v_shifted), (0, 0, 1, 0))[:, :, :rows, :]",
            ),
        ),
        "before the 1x1 convolution",
        id="gated-shift-after-the-1x1-convolution",
    ),
    pytest.param(
        "03_pixelcnn",
        "check-gated-layer",
        _gated(("self.vertical(v)[:, :, :rows, :]", "self.vertical(v)[:, :, -rows:, :]")),
        "keep the first rows",
        id="gated-last-rows-kept",
    ),
    pytest.param(
        "03_pixelcnn",
        "check-gated-layer",
        _gated(("v_out = self.gate(v_features, class_bias)", "v_out = self.gate(v_features, None)")),
        "the vertical one too",
        id="gated-class-bias-horizontal-only",
    ),
    pytest.param(
        "03_pixelcnn",
        "check-gated-layer",
        _gated(("return v_out, (h_out if self.first else h + h_out)", "return v_out, h + h_out")),
        "the first layer has no residual",
        id="gated-residual-in-first-layer-crashes",
    ),
]

#: (lesson, grade_id, wrong answer, a phrase of the hint that names the mistake)
WRONG = [
    # the three wrong answers that used to pass the check and get full marks
    pytest.param(
        "01_autoencoder",
        "check-autoencoder",
        AUTOENCODER_RELU_CODE,
        "the codes are never negative",
        id="autoencoder-relu-after-code",
    ),
    pytest.param(
        "01_autoencoder",
        "check-probe-accuracy",
        PROBE_REFIT_ON_TEST,
        "statistics of the test features",
        id="probe-scaler-refitted-on-test",
    ),
    pytest.param(
        "03_pixelcnn",
        "check-sample",
        SAMPLE_IGNORES_START,
        "the pixels before start were drawn again",
        id="sample-ignores-start",
    ),
    # variants of them
    pytest.param(
        "01_autoencoder",
        "check-autoencoder",
        AUTOENCODER_SIGMOID_CODE,
        "the codes are never negative",
        id="autoencoder-sigmoid-after-code",
    ),
    pytest.param(
        "01_autoencoder",
        "check-probe-accuracy",
        PROBE_FIT_ON_TEST,
        "statistics of the test features",
        id="probe-scaler-fitted-on-test-for-both",
    ),
    pytest.param(
        "03_pixelcnn",
        "check-sample",
        SAMPLE_IGNORES_X,
        "the pixels before start should come from x",
        id="sample-ignores-x",
    ),
    # more plausible mistakes
    pytest.param(
        "01_autoencoder",
        "check-autoencoder",
        AUTOENCODER_NO_SIGMOID,
        "end the decoder with a sigmoid",
        id="autoencoder-no-sigmoid",
    ),
    pytest.param(
        "01_autoencoder",
        "check-probe-accuracy",
        PROBE_SCORED_ON_TRAIN,
        "never on the training set",
        id="probe-scored-on-train",
    ),
    pytest.param(
        "01_autoencoder",
        "check-output-sizes",
        TRANSPOSE_PADDING_SIGN,
        "o = (i − 1)·s − 2p + k",
        id="transpose-padding-sign",
    ),
    pytest.param(
        "01_autoencoder",
        "check-output-sizes",
        TRANSPOSE_OFF_BY_ONE,
        "o = (i − 1)·s − 2p + k",
        id="transpose-off-by-one",
    ),
    pytest.param(
        "01_autoencoder",
        "check-output-sizes",
        CONV_WITHOUT_PLUS_ONE,
        "o = ⌊(i + 2p − k) / s⌋ + 1",
        id="conv-without-plus-one",
    ),
    pytest.param(
        "01_autoencoder",
        "check-reconstruction-loss",
        LOSS_MEAN_OVER_PIXELS,
        "averaged over the pixels too",
        id="loss-mean-over-pixels",
    ),
    pytest.param(
        "01_autoencoder",
        "check-label-subset",
        LABEL_SUBSET_UNSEEDED,
        "pass it to torch.randperm",
        id="label-subset-unseeded",
    ),
    pytest.param("03_pixelcnn", "check-sample", SAMPLE_ARGMAX, "do not take the argmax", id="sample-argmax"),
    pytest.param(
        "03_pixelcnn",
        "check-causal-mask",
        MASK_TYPES_SWAPPED,
        "type A must hide the centre pixel",
        id="mask-types-swapped",
    ),
    pytest.param(
        "03_pixelcnn",
        "check-masked-conv",
        MASKED_CONV_WITHOUT_BIAS,
        "misses the layer's bias",
        id="masked-conv-without-bias",
    ),
    pytest.param(
        "03_pixelcnn", "check-masked-conv", MASKED_ONCE_IN_INIT, "apply the mask in forward", id="masked-once-in-init"
    ),
    pytest.param(
        "03_pixelcnn", "check-pixel-nll", NLL_MEAN_OVER_PIXELS, "do not average them", id="nll-mean-over-pixels"
    ),
    *GATED,
]


@pytest.mark.parametrize("lesson,grade_id,source,phrase", WRONG)
def test_wrong_answer_fails_its_check_with_a_hint(lesson, grade_id, source, phrase):
    failed, text = check_output(lesson, grade_id, source)
    assert failed, text
    assert phrase in text, text


@pytest.mark.parametrize("lesson,grade_id,source,phrase", WRONG)
def test_wrong_answer_loses_marks_on_every_seed(lesson, grade_id, source, phrase):
    shares = probe_shares(lesson, grade_id, source)
    assert len(shares) == len(SEEDS)
    assert all(share < 1 for share in shares), shares


EXERCISES = [(lesson, cell_id) for lesson in LESSONS for cell_id in _cells(lesson, "ex-", notebook=False)]


@pytest.mark.parametrize("lesson,cell_id", EXERCISES)
def test_solution_cell_keeps_full_marks_and_passes(lesson, cell_id):
    source = _cells(lesson, "ex-", notebook=False)[cell_id]
    grade_id = "check-" + cell_id.removeprefix("ex-")
    assert probe_shares(lesson, grade_id, source) == [1.0] * len(SEEDS)
    assert probe_shares(lesson, grade_id, "") == [1.0] * len(SEEDS)
    failed, text = check_output(lesson, grade_id, source)
    assert not failed and "tests pass" in text and " of " not in text.splitlines()[0], text


@pytest.mark.parametrize("lesson,cell_id", EXERCISES)
def test_untouched_stub_reads_not_done_yet(lesson, cell_id):
    stub = _cells(lesson, "ex-", notebook=True)[cell_id]
    assert "NotImplementedError" in stub
    failed, text = check_output(lesson, "check-" + cell_id.removeprefix("ex-"), stub)
    assert failed and "not done yet" in text, text  # NotDone: the cell raises, with the verdict above
