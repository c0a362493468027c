"""The course's tooling for *Generative Models, Hands-On*: what authors, lecturers and graders run.

Nothing here is imported by a notebook (that is :mod:`course_utils`, the student library, shipped
alone as the release's wheel). The ``course`` command (:mod:`course_tools.__main__`) dispatches to:

* :mod:`~course_tools.build`: the notebooks from ``solutions/*.py``, the hint table, and lesson cells
  executed into a namespace (:func:`~course_tools.build.lesson_namespace`);
* :mod:`~course_tools.run`: every lesson executed headless, a row each;
* :mod:`~course_tools.bench`: wall time and quality per lesson and seed, beside published figures;
* :mod:`~course_tools.grading`, :mod:`~course_tools.graded_models`, :mod:`~course_tools.gradescope`:
  the auto-grader, its measurements of trained weights, and the Gradescope autograder;
* :mod:`~course_tools.release`: the student bundle; :mod:`~course_tools.demo`: the lecture dashboard.

Its third-party needs come with the extras of ``pyproject.toml``: ``authors`` (build, run, bench,
grade, release), ``lab``, ``dashboard`` and ``dev``.
"""
