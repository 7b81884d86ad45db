"""What students open in JupyterLab: a syllabus, clean notebooks, balanced math, nbgrader's Validate.

The browser test (tests/test_browser.py) shows module 00 rendered for real; these checks cover
every released notebook without a browser.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from moduletools import released, source, with_answer

from autograder import authoring, paths

pytestmark = pytest.mark.platform

NOTEBOOKS = [(m, nb.name) for m in paths.modules(paths.COURSE) for nb in sorted((paths.COURSE / m).glob("*.ipynb"))]
IDS = [f"{m}/{n}" for m, n in NOTEBOOKS]


def test_every_module_is_released():
    assert [m for m, _ in NOTEBOOKS] == paths.modules(), "course/ and solutions/ list different modules"


def test_the_syllabus_lists_every_module_with_time_and_gpu():
    """course/README.md is the page `autograder lab` opens: one row per module, linking its notebook."""
    text = (paths.COURSE / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| [")]
    for module, notebook in NOTEBOOKS:
        row = next((r for r in rows if f"]({module}/{notebook})" in r), None)
        assert row, f"course/README.md has no row linking {module}/{notebook}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 4 and all(cells), f"want module | what you learn | time | GPU: {row}"
        assert re.search(r"\d+(-\d+)? ?(min|h)\b", cells[2]), f"no estimated time in: {row}"
        assert cells[3] in ("no", "yes", "helps"), f"GPU column should say no, yes or helps: {row}"


@pytest.mark.parametrize(("module", "notebook"), NOTEBOOKS, ids=IDS)
def test_released_notebook_carries_no_outputs(module, notebook):
    """Outputs belong to the student's run: the release ships none (nor execution counts)."""
    nb = released(module, notebook)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{module}/{notebook}: cells {dirty} carry outputs; run `autograder release`"
    size = (paths.COURSE / module / notebook).stat().st_size
    assert size < 500_000, f"{module}/{notebook} is {size:,} bytes; embedded data does not belong in a notebook"


# --- math: what MathJax would choke on ------------------------------------------------------

CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def math_spans(markdown: str) -> list[str]:
    """The TeX between $$...$$ and $...$ (code spans and \\$ removed); raise on an unpaired $."""
    text = CODE.sub("", markdown).replace(r"\$", "")
    display = text.split("$$")
    if len(display) % 2 == 0:
        raise ValueError("an unpaired $$")
    spans = display[1::2]
    for outside in display[0::2]:
        inline = outside.split("$")
        if len(inline) % 2 == 0:
            raise ValueError(f"an unpaired $ in: {outside.strip()[:80]!r}")
        spans += inline[1::2]
    return spans


def tex_problems(tex: str) -> list[str]:
    problems = []
    bare = re.sub(r"\\[{}]", "", tex)
    depth = 0
    for ch in bare:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        problems.append("unbalanced { }")
    stack: list[str] = []
    for kind, env in re.findall(r"\\(begin|end)\{([^}]*)\}", tex):
        if kind == "begin":
            stack.append(env)
        elif not stack or stack.pop() != env:
            stack.append("mismatch")
            break
    if stack:
        problems.append("\\begin and \\end do not match")
    if len(re.findall(r"\\left\b", tex)) != len(re.findall(r"\\right\b", tex)):
        problems.append("\\left without \\right")
    if not tex.strip():
        problems.append("empty math")
    return problems


def test_the_math_checker_catches_what_it_should():
    assert math_spans(r"costs \$5, `$x` is code, and $x^2$ is math") == ["x^2"]
    assert math_spans("a $x$ b $$\\frac{1}{2}$$ c") == ["\\frac{1}{2}", "x"]
    with pytest.raises(ValueError):
        math_spans("an unpaired $x here")
    with pytest.raises(ValueError):
        math_spans("$$x$ and more")
    assert tex_problems(r"\frac{1}{2") == ["unbalanced { }"]
    assert tex_problems(r"\left( x") == ["\\left without \\right"]
    assert tex_problems(r"\begin{aligned} x \end{cases}") == ["\\begin and \\end do not match"]
    assert tex_problems(r"\left\{ x \right. \begin{aligned} a &= b \end{aligned}") == []


@pytest.mark.parametrize(("module", "notebook"), NOTEBOOKS, ids=IDS)
def test_markdown_math_is_balanced(module, notebook):
    for i, cell in enumerate(released(module, notebook).cells):
        if cell.cell_type != "markdown":
            continue
        try:
            spans = math_spans(cell.source)
        except ValueError as error:
            pytest.fail(f"{module}/{notebook} cell {i}: {error}")
        for tex in spans:
            assert not tex_problems(tex), f"{module}/{notebook} cell {i}: {tex_problems(tex)} in ${tex}$"


@pytest.mark.parametrize(("module", "notebook"), NOTEBOOKS, ids=IDS)
def test_figures_use_the_inline_backend(module, notebook):
    """A notebook that picks a backend (Agg, a GUI) shows no figure in JupyterLab."""
    for i, cell in enumerate(released(module, notebook).cells):
        if cell.cell_type != "code":
            continue
        assert "matplotlib.use(" not in cell.source, f"{module}/{notebook} cell {i} sets a matplotlib backend"
        for magic in re.findall(r"^%matplotlib\s*(\S*)", cell.source, re.M):
            assert magic in ("", "inline", "widget", "ipympl"), f"{module}/{notebook} cell {i}: %matplotlib {magic}"


# --- nbgrader's own Validate button ---------------------------------------------------------


def validate(nb: nbformat.NotebookNode, tmp_path, name: str) -> dict:
    """What JupyterLab's Validate button reports (it calls this same nbgrader Validator)."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    path = tmp_path / name
    nbformat.write(nb, str(path))
    # Its kernel talks over Unix sockets: with TCP, kernels started at once by parallel test
    # workers can pick the same free port (jupyter_client's known race) and die at start.
    config = Config()
    config.KernelManager.transport = "ipc"
    validator = Validator(config=config)
    validator.timeout = 300
    return validator.validate(str(path))


@pytest.mark.slow
@pytest.mark.parametrize(("module", "notebook"), NOTEBOOKS, ids=IDS)
def test_validate_reports_every_test_of_a_blank_notebook(module, notebook, tmp_path):
    """Validate runs on every released notebook: nothing locked changed, every test fails."""
    result = validate(released(module, notebook), tmp_path, notebook)
    assert set(result) == {"failed"}, f"Validate said {sorted(result)}: {result}"
    assert len(result["failed"]) == len(authoring.test_points(source(module, notebook)))


def test_validate_passes_a_finished_notebook(tmp_path):
    module, notebook = NOTEBOOKS[0]
    nb = released(module, notebook)
    for cell in source(module, notebook).cells:
        if authoring.is_solution(cell):
            nb = with_answer(nb, authoring.nbgrader_meta(cell)["grade_id"], cell.source)
    assert validate(nb, tmp_path, notebook) == {}


def test_lab_opens_the_syllabus_rendered(tmp_path):
    """`autograder lab` serves the workspace and opens README.md as a page (Markdown Preview)."""
    import json

    from autograder.workspace import lab_command, prepare

    workspace, _ = prepare(tmp_path / "ws")
    args = lab_command(workspace, open_browser=False)
    assert args[1:3] == ["-m", "jupyterlab"] and f"--ServerApp.root_dir={workspace.resolve()}" in args
    assert str(workspace.resolve() / "README.md") in args and "--no-browser" in args
    assert ("--allow-root" in args) == (os.geteuid() == 0), "JupyterLab refuses root without --allow-root"
    settings = next(a.split("=", 1)[1] for a in args if a.startswith("--LabApp.app_settings_dir="))
    overrides = json.loads((Path(settings) / "overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Markdown Preview"
