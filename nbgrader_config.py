"""nbgrader configuration for the course (read by `nbgrader` and by `autograder`).

Source notebooks live in `solutions/`, the released student notebooks in `course/`. Everything a
class produces (submissions, autograded copies, feedback, the gradebook) lives under the user's
data directory, never inside the repository.
"""

import os
from pathlib import Path

import platformdirs

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

_work = Path(platformdirs.user_data_dir("ml-to-lm-course")) / "nbgrader"

c.CourseDirectory.course_id = "ml-to-lm"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
# Absolute paths: nbgrader joins them onto the root, which keeps them outside the repository.
c.CourseDirectory.submitted_directory = str(_work / "submitted")
c.CourseDirectory.autograded_directory = str(_work / "autograded")
c.CourseDirectory.feedback_directory = str(_work / "feedback")
# AUTOGRADER_DB (any SQLAlchemy URL, e.g. PostgreSQL) is also what `autograder grade` writes to.
if os.environ.get("AUTOGRADER_DB"):
    from autograder.gradebook import database_url

    c.CourseDirectory.db_url = database_url(os.environ["AUTOGRADER_DB"])
else:
    c.CourseDirectory.db_url = f"sqlite:///{_work / 'gradebook.db'}"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]
