"""An example of an instructor's hidden tests: keep the real file out of the course repository.

    course grade --assignment 01_autoencoder --submissions DIR --out DIR --hidden-tests hidden_tests.py

Each probe is evaluated in the student's kernel on inputs drawn at grading time and compared with
the reference solution in the grader's process. Hidden probes count toward the score; students see
only "hidden test N: passed/failed".
"""

import torch

from course_utils.checks import Probe

PROBES = {
    "check-reconstruction-loss": [
        Probe(
            "large batch of flat vectors",
            "reconstruction_loss(inp['x'], inp['x_hat'])",
            lambda g: {"x": torch.rand(300, 64, generator=g), "x_hat": torch.rand(300, 64, generator=g)},
        ),
    ],
}
