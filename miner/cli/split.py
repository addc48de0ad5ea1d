"""`miner split`: a thin command over miner.hygiene.split.split_file."""
from __future__ import annotations

import click

from miner.hygiene.dedupe import DEFAULT_THRESHOLD
from miner.hygiene.split import split_file

from .common import debug_option, force_option, handle_errors, print_summary, progress, quiet_option


@click.command("split")
@click.argument("path", type=click.Path())
@click.option("--val", default=0.1, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Validation share (0.1 = 10%) or, 1 and above, a number of examples.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same split.")
@click.option("--threshold", default=DEFAULT_THRESHOLD, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Near-duplicate similarity that keeps two examples on the same side.")
@click.option("--no-stratify", is_flag=True, help="Ignore the examples' sources when splitting.")
@click.option("--train", "train_out", type=click.Path(), help="Training file (default: NAME.train.jsonl).")
@click.option("--val-out", type=click.Path(), help="Validation file (default: NAME.val.jsonl).")
@force_option
@quiet_option
@debug_option
@handle_errors
def command(path, val, seed, threshold, no_stratify, train_out, val_out, force, quiet, debug):
    """Split a dataset into a training file and a validation file, copying lines unchanged.

    Near-duplicates always go to the same side, and each source file is split in the same
    proportion. Same --seed, same split.

    \b
    Examples:
      miner split wlm.clean.jsonl --val 0.1 --seed 7   # wlm.clean.train.jsonl + wlm.clean.val.jsonl
      miner split wlm.clean.jsonl --val 200             # exactly 200 validation examples
    """
    val = int(val) if val >= 1 and val == int(val) else val
    with progress("Splitting", quiet=quiet, unit="examples") as advance:
        summary = split_file(path, val, seed, threshold=threshold, train_out=train_out, val_out=val_out,
                             stratify=not no_stratify, force=force, progress=advance)
    print_summary(summary, quiet)
