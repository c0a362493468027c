"""Helpers for *Generative Models, Hands-On*: data, training, pictures, checks and the build.

The notebooks import what they need::

    from course_utils import data, viz, train
    from course_utils.device import get_device, seed_everything, budget
"""

from .device import budget, course_seed, fast_mode, generator, get_device, seed_everything, set_device
from .hints import hint

__version__ = "0.1.0"
__all__ = ["budget", "course_seed", "fast_mode", "generator", "get_device", "hint", "seed_everything", "set_device",
           "__version__"]
