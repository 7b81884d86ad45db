"""The course's helper package: what every notebook imports.

Small on purpose (d2l's `d2l` package is the model): the run profile, the device, seeding,
verified paths to the shipped data, plotting defaults, and the models later modules build on.
"""

from course.data import DATASETS_DIR, data_path, manifest
from course.runtime import device, is_quick, pick, profile, seed_everything

__all__ = [
    "DATASETS_DIR",
    "data_path",
    "device",
    "is_quick",
    "manifest",
    "pick",
    "profile",
    "seed_everything",
]
