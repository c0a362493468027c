"""The student library of *Generative Models, Hands-On*: data, training, pictures, metrics, widgets, checks.

This package is what the notebooks import, and all a student installs (the release's wheel); the
course's tooling (build, run, bench, grading, dashboard) is :mod:`course_tools`. The notebooks
import what they need::

    from course_utils import data, viz, train
    from course_utils.device import get_device, seed_everything, budget
"""

from .device import budget, course_seed, fast_mode, generator, get_device, seed_everything, set_device
from .hints import hint

__version__ = "0.1.0"
__all__ = [
    "budget",
    "course_seed",
    "fast_mode",
    "generator",
    "get_device",
    "hint",
    "seed_everything",
    "set_device",
    "__version__",
]
