"""Shared pieces of the CLI: error handling, progress, and the summary table.

This is the only place (with the command modules) that prints or exits."""
from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from miner.errors import MinerError
from miner.summary import Summary

debug_option = click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
force_option = click.option("--force", is_flag=True, help="Replace the output file if it exists.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary table.")


def handle_errors(fn: Callable) -> Callable:
    """Turn MinerError into a one-line `Error: ...` and exit 1; unexpected errors get a short
    message too, with the traceback only under --debug (or MINER_DEBUG=1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = kwargs.get("debug") or os.environ.get("MINER_DEBUG") == "1"
        if debug:
            os.environ["MINER_DEBUG"] = "1"  # library code re-raises internal errors under --debug
        with _one_interrupt():
            return _run(fn, debug, args, kwargs)

    return wrapper


def _first_interrupt(signum, frame):
    # One Ctrl-C is enough: the next ones (impatient users press it twice) must not cut short
    # the clean-up the first one starts (temporary files, worker processes).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


@contextmanager
def _one_interrupt():
    mine = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    old = signal.signal(signal.SIGINT, _first_interrupt) if mine else None
    try:
        yield
    finally:
        # after an interrupt, stay deaf to Ctrl-C until the process is gone
        if mine and signal.getsignal(signal.SIGINT) is _first_interrupt:
            signal.signal(signal.SIGINT, old)


def _run(fn: Callable, debug: bool, args, kwargs):
    """fn(*args, **kwargs), with errors turned into messages and exit codes."""
    try:
        return fn(*args, **kwargs)
    except MinerError as e:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("\nInterrupted. Nothing was written under the output name. Run the same command "
                   "again to start over (miner synth resumes where it stopped: LLM results already "
                   "paid for are kept).", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # `miner stats x.jsonl | head`: the reader left; stop quietly like other tools do.
        try:
            sys.stdout = open(os.devnull, "w")
        finally:
            sys.exit(0)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as e:  # pragma: no cover - a bug, not a user error
        if debug:
            raise
        click.echo(f"Error: unexpected {type(e).__name__}: {e}\n"
                   "This is a bug in miner. Re-run with --debug for the traceback and report it.",
                   err=True)
        sys.exit(2)


def console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=False)


@contextmanager
def progress(label: str, total: int | None = None, quiet: bool = False, unit: str = "items") -> Iterator[Callable]:
    """A progress bar on stderr (only when it is a terminal). Yields `advance(n=1, **fields)`."""
    if quiet or not sys.stderr.isatty():
        yield lambda n=1, **kw: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cols = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn() if total else TextColumn(f"{{task.completed}} {unit}"),
            TextColumn("{task.fields[extra]}"), TimeElapsedColumn()]
    with Progress(*cols, console=console(), transient=True) as p:
        task = p.add_task(label, total=total, extra="")

        def advance(n: int = 1, **fields) -> None:
            extra = "  ".join(f"{k} {v}" for k, v in fields.items())
            p.update(task, advance=n, extra=extra)

        yield advance


def print_summary(summary: Summary, quiet: bool = False) -> None:
    """The table at the end of every run: counts, skips by reason (with first examples), notes."""
    if quiet:
        return
    from rich.table import Table

    t = Table(title=summary.title, show_header=False, title_justify="left", box=None, pad_edge=False, min_width=50)
    t.add_column(style="bold")
    t.add_column(justify="right")
    for k, v in summary.counts.items():
        t.add_row(k, _fmt(v))
    for k, v in summary.info.items():
        if isinstance(v, (str, int, float)):
            t.add_row(k, _fmt(v))
        elif isinstance(v, dict) and v and all(isinstance(x, (int, float)) for x in v.values()):
            t.add_row(k, _fmt(sum(v.values())))
            for kk, vv in sorted(v.items(), key=lambda kv: -kv[1]):
                t.add_row(f"  {kk}", _fmt(vv))
    if summary.skips:
        t.add_row("skipped", _fmt(sum(summary.skips.values())))
        for reason, n in summary.skips.most_common():
            t.add_row(f"  {reason}", _fmt(n))
    c = console()
    c.print(t)
    for reason, ex in summary.skip_examples.items():
        if ex:
            c.print(f"[dim]{reason}: e.g. {ex[0]}[/dim]")
    for n in summary.notes:
        c.print(f"Note: {n}")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if v < 1 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
