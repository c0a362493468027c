"""nbgrader's configuration for this course (read by `nbgrader` run in the course folder).

The student notebooks the course builds (`make build`) are exactly what `nbgrader generate_assignment`
makes of the solution notebooks with this stub, so a class can use either. See the README,
"Grading with nbgrader".
"""

import os

from course_tools.build import CODE_STUB, TEXT_STUB

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.ClearSolutions.code_stub = {"python": CODE_STUB}
c.ClearSolutions.text_stub = TEXT_STUB
# validate and autograde execute the notebooks in fast mode, as `course grade` does (seconds, not the
# lecture's minutes): the kernels nbgrader starts inherit this variable. Set COURSE_FAST=0 to override.
os.environ.setdefault("COURSE_FAST", "1")
c.ExecutePreprocessor.timeout = 600
