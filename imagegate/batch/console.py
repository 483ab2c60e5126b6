"""How ``imagegate batch`` looks in a terminal: the cost preview, the progress bar, the summary."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from imagegate.batch import BatchPreview, BatchProgress, BatchReport, LineError, listed
from imagegate.batch.runner import OnProgress

__all__ = ["progress_bar", "show_preview", "show_report"]


def show_preview(console: Console, preview: BatchPreview, out: str) -> None:
    """Print what the batch would run, on which backends, at what estimated cost."""
    if preview.by_backend:
        table = Table(title="batch preview")
        for column in ("backend", "items", "estimated"):
            table.add_column(column)
        for share in preview.by_backend:
            table.add_row(share.backend, str(share.items), f"${share.estimated_usd:.4f}")
        console.print(table)
    console.print(
        f"{preview.items} item(s): {preview.already_done} already done in {out}, "
        f"{preview.to_run} to run, estimated ${preview.estimated_usd:.4f}",
        markup=False,
    )
    if preview.max_spend_usd is not None:
        over = preview.estimated_usd > preview.max_spend_usd
        console.print(
            f"spending cap: ${preview.max_spend_usd:.4f}"
            + (" (below the estimate: items past it fail without running)" if over else "")
        )
    _show_lines(console, "invalid line(s)", preview.invalid)
    _show_lines(
        console,
        "item(s) no backend may serve now (they fail, spending nothing)",
        preview.unroutable,
    )


@contextmanager
def progress_bar(console: Console, total: int) -> Iterator[OnProgress]:
    """A progress bar (finished of total, done, failed, spend, ETA) and its update callback."""
    columns = (
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[done]} done[/] [red]{task.fields[failed]} failed[/]"),
        TextColumn("${task.fields[spent]:.4f}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("batch", total=total, done=0, failed=0, spent=0.0)

        def update(state: BatchProgress) -> None:
            progress.update(
                task,
                total=state.total,
                completed=state.done + state.failed,
                done=state.done,
                failed=state.failed,
                spent=state.spent_usd,
            )

        yield update


def show_report(console: Console, report: BatchReport) -> None:
    """Print what the run did, the failed lines, and where the results are."""
    console.print(
        f"{report.done} done, {report.failed} failed, {report.skipped} done earlier; "
        f"spent ${report.spent_usd:.4f}"
    )
    for provider, pauses in sorted(report.rate_limited.items()):
        console.print(f"{provider} rate-limited the batch: paused {pauses} time(s)")
    failed = [
        LineError(line=outcome.line, error=outcome.error)
        for outcome in report.outcomes
        if outcome.error is not None
    ]
    _show_lines(console, "failed", failed)
    console.print(f"results: {report.results}", markup=False)


def _show_lines(console: Console, title: str, problems: Sequence[LineError]) -> None:
    if not problems:
        return
    console.print(f"{len(problems)} {title}:")
    for line in listed(problems):
        console.print(f"  {line}", markup=False, highlight=False)
