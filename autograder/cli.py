"""The `autograder` command: a thin click layer over the package's functions."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from autograder.errors import UsageError
from autograder.sandbox import SandboxConfig, parse_size
from autograder.settings import Limits

console = Console()
BUG = "this is a bug in the autograder, not a mistake of yours: please report it with the traceback above"


class Autograder(click.Group):
    """A user's mistake (:class:`autograder.errors.UsageError`, or a path that does not exist)
    prints one line and exits 2; anything else is the autograder's bug: its traceback, and a
    line that says so, exit 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except (UsageError, FileNotFoundError) as error:
            click.echo(f"autograder: error: {error}", err=True)
            ctx.exit(2)
        except Exception:
            import traceback

            traceback.print_exc()
            click.echo(f"autograder: {BUG}", err=True)
            ctx.exit(1)


@click.group(cls=Autograder)
@click.option("-v", "--verbose", is_flag=True, help="Log one line per graded submission.")
def main(verbose: bool) -> None:
    """Release, check and grade the course's notebooks."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    import warnings

    warnings.filterwarnings("ignore", module="nbgrader")


@main.command()
@click.argument("modules", nargs=-1)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Change nothing; exit 1 and name the stale files if course/ is out of date.",
)
def release(modules: tuple[str, ...], check_only: bool) -> None:
    """Regenerate course/MODULE from solutions/MODULE (all modules when none is named)."""
    from autograder import release as rel

    if check_only:
        stale = rel.check(list(modules) or None)
        if stale.stale:
            console.print(
                "[red]course/ is out of date with solutions/; run `autograder release`:[/]"
            )
            for line in stale.lines():
                console.print(f"  {line}")
            sys.exit(1)
        console.print("course/ is up to date.")
        return
    done = rel.release(list(modules) or None)
    console.print(f"released: {', '.join(done) or 'nothing'}")


@main.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--module", help="The module, when the file name does not say it.")
@click.option("--no-record", is_flag=True, help="Do not record the attempt in your progress.")
@click.option(
    "--cell-timeout",
    default=Limits.cell_timeout,
    show_default=True,
    help="Seconds one cell may run.",
)
@click.option(
    "--require-sandbox", is_flag=True, help="Refuse to run without the bubblewrap sandbox."
)
@click.option(
    "--disk",
    default=None,
    metavar="SIZE",
    help="What the notebook may write in all, e.g. 2G  [default: 2G, or AUTOGRADER_DISK]",
)
def check(
    notebook: Path,
    module: str | None,
    no_record: bool,
    cell_timeout: float,
    require_sandbox: bool,
    disk: str | None,
) -> None:
    """Grade your saved NOTEBOOK as the instructor would (hidden tests included)."""
    from autograder.selfcheck import run_check, table

    result = run_check(
        notebook,
        module=module,
        record=not no_record,
        cell_timeout=cell_timeout,
        sandbox=_sandbox(require_sandbox, None, disk),
    )
    console.print(table(result))
    if result.status != "graded":
        console.print(f"[red]{result.status}[/]: {result.reason}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")


@main.command()
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False),
    is_flag=False,
    flag_value="",
    default=None,
    help="Also write a self-contained HTML dashboard to this file (alone: progress.html in your data directory).",
)
def progress(html_out: str | None) -> None:
    """Your best score and last attempt for every module."""
    from autograder.progress import store_path, summary

    t = Table(title="Your progress")
    for col in ("module", "best score", "attempts", "last attempt"):
        t.add_column(col)
    for row in summary():
        best = "-" if row.best is None else f"{row.best:g} / {row.max_score:g}"
        t.add_row(row.module, best, str(row.attempts), row.last or "never")
    console.print(t)
    console.print(f"[dim]record: {store_path()}[/]")
    if html_out is not None:
        from autograder import dashboard

        written = dashboard.write(
            Path(html_out) if html_out else store_path().with_name("progress.html")
        )
        console.print(f"dashboard: {written.resolve().as_uri()}", soft_wrap=True)


@main.command()
@click.argument("submissions", type=click.Path(exists=True, path_type=Path))
@click.option("--module", "-m", required=True, help="Module id, e.g. 00-getting-started or 00.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Output folder (default: under your data directory; a rerun resumes).",
)
@click.option("--workers", type=int, default=None, help="Parallel workers (default: CPU cores).")
@click.option(
    "--cell-timeout",
    default=Limits.cell_timeout,
    show_default=True,
    help="Seconds one cell may run.",
)
@click.option(
    "--notebook-timeout",
    default=Limits.notebook_timeout,
    show_default=True,
    help="Seconds one notebook may run.",
)
@click.option(
    "--force", is_flag=True, help="Re-grade every submission, not only new or changed ones."
)
@click.option("--no-feedback", is_flag=True, help="Skip the HTML feedback.")
@click.option(
    "--db",
    "db_url",
    envvar="AUTOGRADER_DB",
    show_envvar=True,
    help="SQLAlchemy URL of the gradebook, e.g. postgresql://user@host/grades (default: SQLite in --out).",
)
@click.option(
    "--scheduler",
    envvar="AUTOGRADER_SCHEDULER",
    show_envvar=True,
    help="Grade on the Dask cluster of this scheduler (tcp://host:8786) instead of local workers.",
)
@click.option(
    "--require-sandbox", is_flag=True, help="Refuse to grade without the bubblewrap sandbox."
)
@click.option(
    "--memory",
    default=None,
    metavar="SIZE",
    help="Address space a kernel may use, e.g. 4G or 512M  [default: 4G, or AUTOGRADER_MEMORY]",
)
@click.option(
    "--disk",
    default=None,
    metavar="SIZE",
    help="What one notebook may write in all (files, temporary files, caches), e.g. 2G  "
    "[default: 2G, or AUTOGRADER_DISK]",
)
def grade(
    submissions: Path,
    module: str,
    out: Path | None,
    workers: int | None,
    cell_timeout: float,
    notebook_timeout: float,
    force: bool,
    no_feedback: bool,
    db_url: str | None,
    scheduler: str | None,
    require_sandbox: bool,
    memory: str | None,
    disk: str | None,
) -> None:
    """Grade a class: SUBMISSIONS is a folder (nbgrader layout or flat) or a zip."""
    from autograder.batch import grade as run

    report = run(
        submissions,
        module=module,
        out=out,
        workers=workers,
        cell_timeout=cell_timeout,
        notebook_timeout=notebook_timeout,
        force=force,
        feedback=not no_feedback,
        db_url=db_url,
        scheduler=scheduler,
        sandbox=_sandbox(require_sandbox, memory, disk),
    )
    failed = [r for r in report.rows if r.status != "graded"]
    console.print(
        f"{len(report.rows)} submissions ({report.graded_now} graded now, {report.skipped} unchanged) "
        f"in {report.seconds:.1f} s; {len(failed)} not graded normally."
    )
    for r in failed:
        console.print(f"  [yellow]{r.student_id}[/]: {r.status}: {r.reason}")
    hard = _hardest(report.questions_path)
    if hard:
        console.print("questions with the fewest full marks: " + "; ".join(hard), soft_wrap=True)
    # Paths whole on one line each, whatever the terminal's width: they are copied and pasted.
    console.print(
        f"grades: {report.csv_path}\nquestions: {report.questions_path}\nfeedback: {report.out / 'feedback'}",
        soft_wrap=True,
    )
    if report.page is not None:
        console.print(f"class page: {report.page.resolve().as_uri()}", soft_wrap=True)


def _hardest(path: Path | None, n: int = 3) -> list[str]:
    """The ``n`` questions the fewest submissions passed, as 'question (share)'."""
    import csv

    if path is None or not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["submissions"])]
    rows.sort(key=lambda r: float(r["full_marks_share"]))
    return [
        f"{r['question']} ({100 * float(r['full_marks_share']):.0f}% full marks)" for r in rows[:n]
    ]


def _sandbox(required: bool, memory: str | None, disk: str | None = None) -> SandboxConfig:
    import dataclasses

    config = SandboxConfig.from_env()
    changes: dict = {"required": config.required or required}
    for name, value in (("memory", memory), ("disk", disk)):
        if value is not None:
            try:
                changes[name] = parse_size(value)
            except ValueError as error:
                raise click.BadParameter(str(error), param_hint=f"--{name}") from None
    return dataclasses.replace(config, **changes)


@main.command()
@click.option(
    "--workspace",
    type=click.Path(path_type=Path),
    help="Where your copies live (default ~/ml-to-lm-course).",
)
@click.option("--no-browser", is_flag=True, help="Start JupyterLab without opening a browser.")
@click.option("--prepare-only", is_flag=True, help="Copy the notebooks, do not start JupyterLab.")
def lab(workspace: Path | None, no_browser: bool, prepare_only: bool) -> None:
    """Copy the course into your workspace (never overwriting your work) and open JupyterLab."""
    import os

    from autograder.workspace import lab_command, lab_env, prepare

    where, added = prepare(workspace)
    console.print(f"workspace: {where} ({len(added)} new files)")
    if prepare_only:
        return
    if no_browser:
        console.print(
            "JupyterLab starts without a browser: open the http://127.0.0.1 address it prints (with its token)."
        )
    sys.stdout.flush()
    os.execve(sys.executable, lab_command(where, open_browser=not no_browser), lab_env())


if __name__ == "__main__":
    main()
