"""`miner review`: serve a local web page to audit and curate a dataset by eye (miner.review)."""
from __future__ import annotations

import os
import sys

import click

from miner.cli.common import debug_option, handle_errors, progress, quiet_option
from miner.errors import ConfigError
from miner.review import stats as review_stats


@click.command("review")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="Where Save writes the reviewed dataset [default: FILE with .reviewed before the extension].")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on; 0 picks a free one.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Only loopback addresses are allowed without --allow-remote.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host (anyone who can reach it and has the link can edit).")
@click.option("--target", type=click.Choice(review_stats.targets()) if review_stats.targets() else str,
              help="Fine-tuning target whose token limit marks examples as too long "
                   "[default: the limit for the dataset's own format, as `miner stats` does].")
@click.option("--max-tokens", type=click.IntRange(min=1),
              help="Mark examples longer than this as too long (overrides --target's limit).")
@click.option("--force", is_flag=True, help="Let Save replace --out if it already exists.")
@click.option("--start-over", is_flag=True, help="Discard edits kept from an earlier review of FILE and import it afresh.")
@quiet_option
@debug_option
@handle_errors
def command(file, out, port, host, allow_remote, target, max_tokens, force, start_over, quiet, debug):
    """Open a private web page to read, edit, delete and find/replace the examples of a dataset.

    \b
    Examples:
      miner review wlm.jsonl
      miner review wlm.jsonl --out final.jsonl --port 8765
      miner review wlm.gemini.jsonl --target vertex
      miner review wlm.jsonl --start-over          # forget the edits kept from last time

    The page runs on this computer only (127.0.0.1) and needs the private link printed here;
    nothing is sent anywhere. Sort by size, filter by the warnings of `miner stats`, edit any
    turn in place, delete (and undo), mark examples reviewed, and find/replace across the whole
    dataset with a preview first. Press Save to write the reviewed copy (FILE is never
    modified). Edits are kept in OUT.review.sqlite, so you can stop with Ctrl-C and carry on
    later by running the same command.
    """
    from miner.review import Store, default_out
    from miner.review.app import ReviewServer, is_loopback

    if not is_loopback(host):
        if not allow_remote:
            raise ConfigError(f"--host {host} would let other machines reach your writing; use 127.0.0.1, "
                              "or add --allow-remote if you really mean it")
        click.echo(f"Warning: listening on {host}: anyone who can reach this machine and gets the link can "
                   "read and edit this dataset. The connection is not encrypted.", err=True)
    out = out or default_out(file)
    size = os.path.getsize(file) if os.path.isfile(file) else None
    try:
        with progress("Importing", total=size, quiet=quiet, unit="bytes") as advance:
            store = Store.open(file, out, force=force, start_over=start_over, on_progress=advance)
    except KeyboardInterrupt:
        click.echo("\nInterrupted while importing; nothing was kept. Run the same command again.", err=True)
        sys.exit(130)
    try:
        review_stats.token_limit(target, max_tokens)  # an unknown target fails here, not in the background
        server = ReviewServer(store, host, port, target=target, max_tokens=max_tokens, allow_remote=allow_remote)
    except BaseException:
        store.close()
        raise
    counts = store.counts()
    server.start_stats()
    click.echo(f"Reviewing {file}: {counts['active']:,} examples"
               + (f" ({counts['deleted']:,} deleted, {counts['edited']:,} edited so far)" if store.version else "") + ".")
    click.echo("Open this private link in your browser (it works on this computer only):")
    click.echo(f"  {server.url}")
    click.echo(f"Save writes {out}; {file} is never changed. Press Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        unsaved = store.unsaved
        store.close()
    if unsaved:
        click.echo(f"\nStopped. Your unsaved edits are kept in {store.path}; run the same command to carry on, "
                   "and press Save to write them.", err=True)
    else:
        click.echo("\nStopped. Everything is saved." if os.path.exists(out) else "\nStopped. Nothing was changed.",
                   err=True)
