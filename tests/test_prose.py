"""The text follows the run: no lesson's markdown states a measured figure by hand.

A measured number (a score, a percentage, "4 of 8 modes", a slope) belongs in a code cell that
shows it with ``results.say``, so the prose always quotes the run beside it. Typed numbers stay
only for constants, written as math (``$\\sigma = 0.05$``), and for published references, which
cite their source in the same sentence (an author and a year). Numbers inside math are taken to be
constants or derivations: the test cannot tell a measured value typed there, so do not type one.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from course_tools.build import lesson_sources

ROOT = Path(__file__).resolve().parents[1]
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$", re.S)
CODE = re.compile(r"`[^`\n]*`")
#: what a measured figure looks like in prose: 0.37, 42%, 4/8, "4 of 8", "17 of the 25"
FIGURE = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])|\b\d+(?:\.\d+)?\s?%|\b\d+\s?/\s?\d+\b|\b\d+ of (?:the )?\d+\b")
CITATION = re.compile(r"\b(?:19|20)\d\d\b")
SENTENCES = re.compile(r"(?<!\bal\.)(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?:;])\s+|\n\s*\n|\n\s*(?=[*|#-]|\d+\.)")


def hand_typed_figures(source: str) -> list[str]:
    """The sentences of a markdown cell that state a measured figure by hand."""
    found = []
    text = CODE.sub(" ", MATH.sub(" ", source))
    for sentence in SENTENCES.split(text):
        if FIGURE.search(sentence) and not CITATION.search(sentence):
            found.append(" ".join(sentence.split()))
    return found


@pytest.mark.parametrize(
    "text,flagged",
    [
        ("On the ring the baseline captures 4 of 8 modes.", True),
        ("It reaches 90% high quality.", True),
        ("The error falls to 2.02 against 3.40.", True),
        ("As Lin et al. (2018) show, packing helps. We measure 0.91 here.", True),
        ("VEEGAN (Srivastava et al. 2017) reports 1/8 modes at 99.3%.", False),
        ("Modes are $0.05$ wide, and $\\lambda = 0.1$.", False),
        ("Each run uses the `lr=1e-3, 0.5` recipe.", False),
        ("Three seeds, two mixtures, one recipe.", False),
    ],
)
def test_the_detector(text, flagged):
    assert bool(hand_typed_figures(text)) is flagged


@pytest.mark.parametrize("source", lesson_sources(ROOT), ids=lambda p: p.stem)
def test_no_measured_figure_is_typed_by_hand(source):
    nb = jupytext.read(source)
    typed = [
        f"cell {i}: {sentence}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for sentence in hand_typed_figures(cell.source)
    ]
    assert not typed, (
        "measured figures typed in markdown; show them from a code cell with results.say(...), "
        "write constants as math, cite published numbers:\n" + "\n".join(typed)
    )
