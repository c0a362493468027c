"""The ``course`` command: ``course build | run | bench | grade | gradescope | release | demo``.

Also ``python -m course_tools``.
"""

from __future__ import annotations

import sys

USAGE = """usage: course COMMAND [options]

commands:
  build    build the notebooks from solutions/*.py (--check: fail on drift)
  run      execute every solution notebook headless and print one row per lesson
  bench    wall time and quality of each lesson beside published reference numbers
  grade    grade a folder of submissions (course grade --help)
  gradescope  write a lesson's Gradescope autograder zip (course gradescope --help)
  release  write the student bundle: notebooks, the student library's wheel, a README (course release --help)
  demo     serve the lecture dashboard (three widgets on trained models) with Voila
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "build":
        from .build import main as run
    elif command == "run":
        from .run import main as run
    elif command == "bench":
        from .bench import main as run
    elif command == "grade":
        from .grading import main as run
    elif command == "gradescope":
        from .gradescope import main as run
    elif command == "release":
        from .release import main as run
    elif command == "demo":
        from .demo import main as run
    else:
        print(f"course: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
