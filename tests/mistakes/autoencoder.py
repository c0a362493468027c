"""Lesson 01 (autoencoder): the typical mistakes of each graded exercise, as a student would write them."""

from __future__ import annotations

from . import Mistake

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


def _loss(body: str) -> str:
    return f"""
def reconstruction_loss(x, x_hat):
    return {body}
"""


MISTAKES = [
    # the wrong answers that used to pass the check and get full marks
    Mistake("relu after the code", "check-autoencoder", AUTOENCODER_RELU_CODE, "the codes are never negative"),
    Mistake("sigmoid after the code", "check-autoencoder", AUTOENCODER_SIGMOID_CODE, "the codes are never negative"),
    Mistake(
        "scaler refitted on the test features",
        "check-probe-accuracy",
        PROBE_REFIT_ON_TEST,
        "statistics of the test features",
    ),
    Mistake(
        "scaler fitted on the test features for both",
        "check-probe-accuracy",
        PROBE_FIT_ON_TEST,
        "statistics of the test features",
    ),
    # more plausible mistakes
    Mistake(
        "no sigmoid at the decoder's end", "check-autoencoder", AUTOENCODER_NO_SIGMOID, "end the decoder with a sigmoid"
    ),
    Mistake(
        "linear encoder and decoder",
        "check-autoencoder",
        """
class Autoencoder(Autoencoder):
    def __init__(self, d_latent, image_shape=(1, 8, 8), d_hidden=128):
        super().__init__(d_latent, image_shape, d_hidden)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, d_latent))
        self.decoder = nn.Sequential(nn.Linear(d_latent, 64))
""",
        "should be nonlinear",
    ),
    Mistake(
        "forward skips the bottleneck",
        "check-autoencoder",
        """
class Autoencoder(Autoencoder):
    def forward(self, x):
        return x.clamp(0, 1)
""",
        "through the bottleneck",
    ),
    Mistake(
        "constructor with another signature",
        "check-autoencoder",
        """
class Autoencoder(nn.Module):
    def __init__(self, **kwargs):
        raise TypeError("unexpected keyword")
""",
        "raised TypeError: unexpected keyword",
    ),
    Mistake(
        "probe scored on the training set", "check-probe-accuracy", PROBE_SCORED_ON_TRAIN, "never on the training set"
    ),
    Mistake(
        "accuracy as a percentage",
        "check-probe-accuracy",
        """
def probe_accuracy(f_train, y_train, f_test, y_test):
    return 100.0
""",
        "not a percentage",
    ),
    Mistake("transposed size: padding's sign", "check-output-sizes", TRANSPOSE_PADDING_SIGN, "o = (i − 1)·s − 2p + k"),
    Mistake("transposed size: off by one", "check-output-sizes", TRANSPOSE_OFF_BY_ONE, "o = (i − 1)·s − 2p + k"),
    Mistake("conv size without the + 1", "check-output-sizes", CONV_WITHOUT_PLUS_ONE, "o = ⌊(i + 2p − k) / s⌋ + 1"),
    Mistake(
        "conv size with p once",
        "check-output-sizes",
        """
def conv_output_size(i, k, s=1, p=0):
    return (i + p - k) // s + 1
""",
        "o = ⌊(i + 2p − k) / s⌋ + 1",
    ),
    Mistake(
        "conv size as a float",
        "check-output-sizes",
        """
def conv_output_size(i, k, s=1, p=0):
    return (i + 2 * p - k) / s + 1
""",
        "should return an int",
    ),
    Mistake(
        "loss averaged over the pixels",
        "check-reconstruction-loss",
        LOSS_MEAN_OVER_PIXELS,
        "averaged over the pixels too",
    ),
    Mistake(
        "loss summed over the batch",
        "check-reconstruction-loss",
        _loss("((x - x_hat) ** 2).sum()"),
        "average over the N images",
    ),
    Mistake(
        "loss as a Python float",
        "check-reconstruction-loss",
        _loss("float(((x - x_hat) ** 2).flatten(1).sum(1).mean())"),
        "torch.Tensor",
    ),
    Mistake(
        "loss cut from the graph",
        "check-reconstruction-loss",
        _loss("((x - x_hat) ** 2).detach().flatten(1).sum(1).mean()"),
        "carry a gradient",
    ),
    Mistake(
        "loss only for images, not flat vectors",
        "check-reconstruction-loss",
        _loss("((x - x_hat) ** 2).sum((1, 2, 3)).mean()"),
        "works on flat vectors",
    ),
    Mistake("label subset not seeded", "check-label-subset", LABEL_SUBSET_UNSEEDED, "pass it to torch.randperm"),
    Mistake(
        "label subset: the first indices",
        "check-label-subset",
        """
def label_subset(y, n_per_class, seed=0):
    return torch.arange(n_per_class * 10)
""",
        "exactly 3 times",
    ),
]
