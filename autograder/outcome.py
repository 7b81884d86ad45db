"""What grading a submission produced: typed, the same in the worker that grades and in the main
process that records it, with the first line of each failure carried through to the gradebook,
the CSV of per-question statistics and the feedback page."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from nbformat import NotebookNode

# Severity order when a module has several notebooks: the worst status wins.
STATUS_ORDER = [
    "graded",
    "timeout",
    "disk_full",
    "kernel_died",
    "missing",
    "invalid_notebook",
    "error",
]


@dataclass
class CellResult:
    """One graded test cell."""

    grade_id: str
    points: float
    score: float
    message: str = ""  # first line of the failure, empty when passed

    @property
    def passed(self) -> bool:
        return self.score >= self.points


@dataclass
class NotebookResult:
    """One notebook of a submission: its status, every test cell's result, and (in the worker)
    the graded notebook and its feedback page."""

    module: str
    notebook: str
    status: str  # one of STATUS_ORDER
    reason: str = ""
    cells: dict[str, CellResult] = field(default_factory=dict)
    max_score: float = 0.0
    seconds: float = 0.0
    graded_nb: NotebookNode | None = None
    notes: list[str] = field(default_factory=list)
    html: str | None = None  # the feedback page

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cells.values())

    def portable(self) -> NotebookResult:
        """Without the graded notebook: what travels back to the main process."""
        return replace(self, graded_nb=None)


@dataclass
class SubmissionOutcome:
    """All notebooks of one student's submission for one module."""

    student: str
    module: str
    notebooks: dict[str, NotebookResult] = field(default_factory=dict)
    seconds: float = 0.0  # grading time, not time spent queued

    @property
    def score(self) -> float:
        return sum(nb.score for nb in self.notebooks.values())

    @property
    def status(self) -> str:
        statuses = [nb.status for nb in self.notebooks.values()]
        return max(statuses, key=STATUS_ORDER.index) if statuses else "missing"

    @property
    def reason(self) -> str:
        several = len(self.notebooks) > 1
        return "; ".join(
            (f"{name}: " if several else "") + nb.reason
            for name, nb in self.notebooks.items()
            if nb.reason
        )

    def scores(self) -> dict[str, dict[str, float]]:
        """``{notebook: {grade_id: score}}``."""
        return {
            name: {g: c.score for g, c in nb.cells.items()} for name, nb in self.notebooks.items()
        }


def failed(
    student: str, module: str, points: dict[str, dict[str, float]], status: str, reason: str
) -> SubmissionOutcome:
    """An outcome for a submission that could not be graded (``points``: ``{notebook:
    {grade_id: points}}``): every cell scores 0 and says why."""
    notebooks = {
        name: NotebookResult(
            module,
            name,
            status,
            reason,
            {g: CellResult(g, p, 0.0, reason) for g, p in cells.items()},
            max_score=sum(cells.values()),
        )
        for name, cells in points.items()
    }
    return SubmissionOutcome(student, module, notebooks)
