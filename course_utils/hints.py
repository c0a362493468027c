"""Deeper hints, one step away: ``hint("ex-gan-step")`` prints the next level of an exercise's hint.

The first level sits in the notebook, just above each stub, and names the idea. When that is not
enough, the ``### HINT:`` line ends with ``(deeper: hint("<cell id>"))``: calling it prints level 2,
which says more about how (still never the code); a level 3, where one exists, is
``hint("<cell id>", 3)``. The texts come from the ``### HINT 2:`` lines of the solution sources,
which the build keeps out of the notebooks (:mod:`course_utils._hint_texts`).
"""

from __future__ import annotations

from ._hint_texts import HINTS

__all__ = ["hint", "HINTS"]


def _key(exercise: str) -> str:
    """``"ex-gan-step"`` for ``"ex-gan-step"``, ``"gan-step"`` or ``"gan_step"``."""
    name = exercise.strip().replace("_", "-")
    return name if name.startswith("ex-") else f"ex-{name}"


def hint(exercise: str, level: int = 2) -> None:
    """Print level ``level`` (2 by default) of the hint of ``exercise`` (its cell id, e.g. ``"ex-gan-step"``)."""
    key = _key(exercise)
    if key not in HINTS:
        known = ", ".join(sorted(HINTS))
        raise ValueError(f"no deeper hint for {exercise!r}: the exercises that have one are {known}")
    levels = HINTS[key]
    if level not in levels:
        raise ValueError(
            f"{key} has hints of level {', '.join(str(k) for k in sorted(levels))} (the first is in "
            "the notebook, above the stub)"
        )
    print(f"{key}, hint {level}:")
    for text in levels[level]:
        print(f"  - {text}")
    if level + 1 in levels:
        print(f'Still stuck? hint("{key}", {level + 1})')
