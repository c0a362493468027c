"""An example of an instructor's hidden tests: keep the real file out of the course repository.

    course grade --assignment 01_autoencoder --submissions DIR --out DIR --hidden-tests hidden_tests.py

A probe is a plain function: its first parameter is ``inp``, the inputs drawn at grading time by
the ``inputs`` function beside it; its other parameters name what it takes from the student's
notebook. The grader runs it on the reference solution in its own process, sends this file's
source to the student's kernel and runs it there on the student's definitions, and compares the
two values. Hidden probes count toward the score; students see only "hidden test N: passed/failed".
This file is executed in the student's kernel too: import only torch, the standard library and
``course_utils`` (and ``Probe``).
"""

import torch

from course_tools.probes import Probe


def large_batch(inp, reconstruction_loss):
    return reconstruction_loss(inp["x"], inp["x_hat"])


def _flat_vectors(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.rand(300, 64, generator=g), "x_hat": torch.rand(300, 64, generator=g)}


PROBES = {
    "check-reconstruction-loss": [Probe("large batch of flat vectors", large_batch, _flat_vectors)],
}
