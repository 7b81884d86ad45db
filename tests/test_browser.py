"""The learner's JupyterLab, driven in a real browser: does `check()` save and grade what is on screen?

Chromium is Debian's (`apt-get install chromium`, installed by `.ci/run`); Playwright drives it
through ``executable_path`` and never downloads a browser. Without Chromium or Playwright the test
skips on a developer machine and fails in CI (``CI=true``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from moduletools import source, with_answer

from autograder import authoring, dashboard, paths, progress

pytestmark = [pytest.mark.browser, pytest.mark.platform, pytest.mark.xdist_group("browser")]

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
MODULE, NOTEBOOK = "00-getting-started", "getting-started.ipynb"
# Right only when X is Y, as in the visible assert; the hidden tests catch it.
PAIRWISE_VISIBLE_ONLY = (
    "def pairwise_sq_dists(X, Y):\n"
    "    X, Y = np.asarray(X, float), np.asarray(Y, float)\n"
    "    return (X**2).sum(1)[None, :] - 2 * X @ Y.T + (Y**2).sum(1)[:, None]\n"
)
WAIT_MS = 60_000  # the longest any single step may take on a busy 2-core CI machine


def _browser_or_skip():
    """Playwright's sync API, or a skip (a failure in CI) saying what is missing."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing is None and not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set COURSE_CHROMIUM)"
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run in CI: {missing}")
        pytest.skip(missing)
    return sync_playwright


def _answer(exercise: str) -> str:
    """The reference answer of an exercise, without nbgrader's solution markers."""
    cell = next(c for c in source(MODULE, NOTEBOOK).cells if authoring.nbgrader_meta(c).get("grade_id") == exercise)
    lines = [ln for ln in cell.source.splitlines() if ln.strip() not in (authoring.BEGIN_SOLUTION, authoring.END_SOLUTION)]
    return "\n".join(lines)


@pytest.fixture
def sync_playwright():
    return _browser_or_skip()


@pytest.fixture
def lab(tmp_path, sync_playwright):
    """What the README tells a learner to run, `autograder lab --no-browser`, on a fresh
    workspace; its address and token read from what it prints; killed afterwards."""
    workspace = tmp_path / "workspace"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "JUPYTER"))}
    env.pop("MPLBACKEND", None)  # the suite's Agg backend would hide figures: let the kernel use inline
    env.update(
        COURSE_PROFILE="quick",
        COURSE_WORKSPACE=str(workspace),
        AUTOGRADER_HOME=str(tmp_path / "autograder-home"),
        # Jupyter's per-user folders in the test's own (what runs is unchanged).
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    log_path = tmp_path / "jupyterlab.log"
    log = log_path.open("wb")
    command = [str(Path(sys.executable).parent / "autograder"), "lab", "--no-browser"]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_MS / 1000
        url = None
        while url is None:
            found = re.search(r"(http://127\.0\.0\.1:(\d+)/lab\?token=([0-9a-f]+))", log_path.read_text())
            if found:
                base, token = f"http://127.0.0.1:{found.group(2)}", found.group(3)
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                    url = found.group(1)
                    break
                except OSError:
                    pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`autograder lab --no-browser` did not start; its output:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield workspace, base, token, log_path
    finally:
        # The server, its kernels and their grading kernels share one process group.
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()
        log.close()


def test_lab_starts_as_root_or_not_with_no_error_lines(lab):
    """The README's first command: no warning or error at start-up (it used to refuse root and
    print a formgrader error at every start), the address printed with its token."""
    workspace, base, token, log_path = lab
    text = log_path.read_text()
    bad = [line for line in text.splitlines() if re.match(r"\[(W|E)\s", line) or "Traceback" in line]
    assert not bad, "start-up printed warnings or errors:\n" + "\n".join(bad)
    assert (workspace / MODULE / NOTEBOOK).is_file() and (workspace / "README.md").is_file()


def test_check_in_jupyterlab_saves_and_shows_the_scores(lab, sync_playwright, tmp_path):
    """Edit a notebook in the browser, run all, call check(): is the unsaved edit graded, inline?
    Then the learner's progress page, as `autograder progress --html` writes it."""
    workspace, base, token, _ = lab
    mine = workspace / MODULE / NOTEBOOK
    # Saved on disk before the page opens: the moving average, and pairwise distances that pass
    # the visible asserts only. Typed in the page and never saved by hand: the softmax.
    nb = with_answer(nbformat.read(str(mine), as_version=4), "ex-moving-average", _answer("ex-moving-average"))
    nb = with_answer(nb, "ex-pairwise", PAIRWISE_VISIBLE_ONLY)
    # The learner's own last cell, saved with the rest. (Added in the browser, it made the test
    # flaky on a loaded machine: a click that did not take sent the typed letters to
    # command-mode shortcuts.)
    nb.cells.append(nbformat.v4.new_code_cell("from autograder import check; check()"))
    nbformat.write(nb, str(mine))
    points = authoring.test_points(source(MODULE, NOTEBOOK))
    expected = points["test-softmax"] + points["test-moving-average"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            # Where `autograder lab` lands: the syllabus, rendered, one linked row per module.
            page.goto(f"{base}/lab/tree/README.md?token={token}")
            syllabus = page.locator(".jp-RenderedMarkdown table")
            syllabus.wait_for()
            modules = syllabus.locator("tbody tr").count()
            syllabus.get_by_role("link", name="00 Getting started").click()
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']")
            cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            ex = next(i for i, c in enumerate(source(MODULE, NOTEBOOK).cells) if authoring.nbgrader_meta(c).get("grade_id") == "ex-softmax")

            from playwright.sync_api import expect

            editor = cells.nth(ex).locator(".cm-content")
            editor.click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(_answer("ex-softmax"))
            # On a loaded machine keys pressed before the focus has moved land in command mode,
            # where letters are shortcuts: go on only once the editor shows the answer.
            expect(editor).to_contain_text(_answer("ex-softmax").strip().splitlines()[-1].strip(), timeout=WAIT_MS)
            page.keyboard.press("Escape")

            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            output = cells.last.locator(".jp-OutputArea")
            title = f"{MODULE} / {NOTEBOOK}: {expected:g} / {sum(points.values()):g}"
            try:
                output.get_by_text(title).wait_for()
            except Exception:  # say what the learner saw instead, not just "timeout"
                seen = cells.last.inner_text(timeout=5_000)
                raise AssertionError(f"check() did not show {title!r} in time; its cell shows:\n{seen[-3000:]}") from None
            text = output.inner_text()
            figures = page.locator(".jp-OutputArea .jp-RenderedImage img").count()
        finally:
            # What the learner saw, kept for a human to look at (also when a step timed out).
            page.screenshot(path=str(tmp_path / "check-in-jupyterlab.png"), full_page=True)
            browser.close()

    rows = {q: next((ln for ln in text.splitlines() if f" {q} " in ln), "") for q in points}
    assert "3/3" in rows["test-softmax"] and "passed" in rows["test-softmax"], text
    assert "0/3" in rows["test-pairwise"] and "failed" in rows["test-pairwise"], text
    assert "2/2" in rows["test-moving-average"] and "passed" in rows["test-moving-average"], text
    assert modules == len(paths.modules()), "the syllabus should list every module"
    assert "NotebookResult(" not in text, "check() should show the table, not a long repr"
    assert figures >= 1, "the notebook's figure did not render as an image"
    saved = nbformat.read(str(mine), as_version=4)
    typed = next(c.source for c in saved.cells if authoring.nbgrader_meta(c).get("grade_id") == "ex-softmax")
    assert typed.strip() == _answer("ex-softmax").strip(), "the typed softmax is not in the saved file"

    # The learner's progress page, as the README says to make it, shows that check.
    env = {**os.environ, "AUTOGRADER_HOME": str(tmp_path / "autograder-home")}
    made = subprocess.run([str(Path(sys.executable).parent / "autograder"), "progress", "--html"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    page_uri = re.search(r"dashboard: (file://\S+)", made.stdout.replace("\n", "")).group(1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(page_uri)
            row = page.locator("tr", has_text=MODULE).inner_text()
        finally:
            browser.close()
    assert f"{expected:g} / {sum(points.values()):g}" in row, row


def test_progress_dashboard_renders_offline(sync_playwright, tmp_path):
    """Does the HTML dashboard show its table and chart while asking the network for nothing?"""
    store = tmp_path / "progress.sqlite"
    progress.record(progress.Attempt(MODULE, NOTEBOOK, 5, 8, "graded", "/x", "2026-01-05T10:00:00+00:00"), store)
    progress.record(progress.Attempt(MODULE, NOTEBOOK, 8, 8, "graded", "/x", "2026-01-06T10:00:00+00:00"), store)
    page_file = dashboard.write(tmp_path / "progress.html", store)
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(page_file.as_uri())
            chart_box = page.locator("figure svg").bounding_box()
            row = page.locator("tr", has_text=MODULE).inner_text()
            page.screenshot(path=str(tmp_path / "progress.png"), full_page=True)
        finally:
            browser.close()
    assert requested == [page_file.as_uri()], f"the page fetched more than itself: {requested}"
    assert chart_box and chart_box["width"] > 300 and chart_box["height"] > 100, chart_box
    assert "8 / 8" in row, row


def test_feedback_page_works_offline_and_runs_nothing(sync_playwright, tmp_path):
    """A student's feedback page opened with the network blocked: equations drawn, the
    notebook's figure shown, no request leaves the page, and a hostile cell's script never runs."""
    import factories as f

    from autograder import feedback
    from autograder.grading import grade_notebook

    hostile = ("from IPython.display import HTML, display\n"
               "display(HTML('<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>'))")
    nb = f.with_extra_first_cell(f.solution(), hostile)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("<script>window.pwned = 3</script> $\\text{<script>window.pwned=4</script>}$"))
    page_file = tmp_path / "feedback.html"
    page_file.write_text(feedback.render(grade_notebook(nb, module=MODULE, notebook=NOTEBOOK)), encoding="utf-8")
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(offline=True)
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
            page = context.new_page()
            page.on("request", lambda r: requested.append(r.url))
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            boxes = page.evaluate("Array.from(document.querySelectorAll('math')).map(m => m.getBoundingClientRect().width)")
            figures = page.evaluate("Array.from(document.querySelectorAll('.jp-OutputArea-output img'))"
                                    ".filter(i => i.complete && i.naturalWidth > 100).length")
            pwned = page.evaluate("window.pwned === undefined ? null : window.pwned")
            row = page.locator("tr", has_text="test-softmax").inner_text()
            page.screenshot(path=str(tmp_path / "feedback.png"), full_page=False)
        finally:
            browser.close()
    assert requested == [page_file.as_uri()], f"the page asked for more than itself: {requested}"
    assert len(boxes) >= 10 and sum(w > 5 for w in boxes) >= 10, f"equations not drawn: {boxes[:10]}"
    assert figures >= 1, "the notebook's figure is missing"
    assert pwned is None and not dialogs, f"a student's script ran: {pwned} {dialogs}"
    assert "3 / 3" in row and "passed" in row, row


def test_the_class_page_shows_the_class_and_opens_a_students_feedback(sync_playwright, tmp_path):
    """After `autograder grade`, the instructor opens the class page: three students, the
    question everyone failed marked, and one student's feedback one click away."""
    import factories as f

    root = f.nbgrader_layout(tmp_path / "subs", {"ada": f.solution(), "bea": f.partial(), "cem": f.blank()})
    made = subprocess.run([str(Path(sys.executable).parent / "autograder"), "grade", str(root), "--module", "00",
                           "--out", str(tmp_path / "out"), "--workers", "1"], capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    assert "class page: file://" in made.stdout and "questions with the fewest full marks" in made.stdout, made.stdout
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.goto((tmp_path / "out" / "index.html").as_uri())
            students = page.locator("h2:has-text('Students') + table tbody tr")
            names = [students.nth(i).locator("td").first.inner_text() for i in range(students.count())]
            pairwise = page.locator("tr", has_text="test-pairwise")
            low = pairwise.get_attribute("class")
            share = pairwise.locator("td").nth(3).inner_text()
            page.locator("tr", has_text="bea").get_by_role("link", name="getting-started").click()
            page.wait_for_load_state("load")
            title = page.locator(".ag-summary h1").inner_text()
            total = page.locator(".ag-total").inner_text()
            page.screenshot(path=str(tmp_path / "bea-feedback.png"))
        finally:
            browser.close()
    assert names == ["ada", "bea", "cem"], names
    assert share == "33%" and low == "low", (share, low)  # only ada passes it
    assert "00-getting-started" in title and total.startswith("3 / 8"), (title, total)
