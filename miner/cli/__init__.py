"""The `miner` command line: a click group over the library. Each command lives in its own
module here and stays thin: build options, call one library function, print its Summary."""
from __future__ import annotations

import importlib
import sys

import click

from miner import __version__

# Command modules; each defines `command` (a click.Command) or `commands` (a list).
COMMAND_MODULES = [
    "inspect_cmd",
    "convert",
    "retries",
    "chunk",
    "synth",
    "templates_cmd",
    "validate",
    "stats",
    "clean",
    "split",
    "review",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="miner")
def cli() -> None:
    """Turn the writing you already have into fine-tuning datasets.

    \b
    Chats:       miner convert chatgpt-export.zip claude.zip -o chats.jsonl
    Manuscripts: miner chunk novel.docx -o chunks.jsonl
                 miner synth novel.docx -o write-like-me.jsonl --template scene-brief
    Hygiene:     miner validate chats.jsonl   /  miner stats chats.jsonl
                 miner clean chats.jsonl -o clean.jsonl --dedupe   /  miner split clean.jsonl

    Everything runs offline by default; no API key is needed until you choose a --provider.
    Run `miner COMMAND --help` for examples.
    """


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"miner.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"miner.cli.{name}":
                continue  # not built yet
            raise
        for cmd in getattr(mod, "commands", None) or [mod.command]:
            cli.add_command(cmd)


_register()


def main() -> None:
    cli(prog_name="miner")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
