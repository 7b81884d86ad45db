"""Score a graded notebook: each test cell earns its points when it ran to the end without an
error; otherwise it says why not in one line (the feedback shows that line, never the test)."""

from __future__ import annotations

from nbformat import NotebookNode

from autograder import authoring
from autograder.execute import Execution
from autograder.outcome import CellResult


def max_points(source: NotebookNode) -> float:
    return sum(authoring.test_points(source).values())


def failure(cell: NotebookNode) -> str | None:
    """``ErrorName: first line of its message`` of the cell's first error output, or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", "Error"), str(output.get("evalue", "")).strip()
            first = evalue.splitlines()[0] if evalue else ""
            return f"{ename}: {first}" if first else ename
    return None


def score(nb: NotebookNode, execution: Execution, source: NotebookNode) -> dict[str, CellResult]:
    """``{grade_id: CellResult}`` for every test cell of the source, in its order; a test cell
    that never ran (the notebook stopped before it, or it is missing) scores 0."""
    points = authoring.test_points(source)
    results = {gid: CellResult(gid, pts, 0.0, "not run") for gid, pts in points.items()}
    for index, cell in enumerate(nb.cells):
        gid = authoring.nbgrader_meta(cell).get("grade_id")
        if gid not in points:
            continue
        if index in execution.timed_out:
            results[gid].message = "timed out"
        elif index not in execution.ran:
            results[gid].message = "not run (the notebook stopped before this cell)"
        else:
            why = failure(cell)
            results[gid].message = why or ""
            results[gid].score = 0.0 if why else points[gid]
    return results
