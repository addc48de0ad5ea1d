"""`miner templates`: list the prompt templates `miner synth` ships with, and print one (to
read, or to copy into your own file and edit)."""
from __future__ import annotations

import click

from miner import prompts

from .common import debug_option, handle_errors


@click.group("templates", invoke_without_command=True)
@click.pass_context
@debug_option
@handle_errors
def command(ctx, debug):
    """List the prompt templates for `miner synth`.

    \b
    Examples:
      miner templates                          # names and what each is for
      miner templates show scene-brief         # the whole file, with comments
      miner templates show qa > my-qa.yaml     # copy one, edit it, then:
      miner synth notes/ -o qa.jsonl --template my-qa.yaml
    """
    if ctx.invoked_subcommand is not None:
        return
    for t in prompts.list_templates():
        turns = f", {t.turns} passages per conversation" if t.turns > 1 else ""
        unit = ", whole chapters" if t.unit == "chapter" else ""
        click.echo(f"{t.name}  (version {t.version}{unit}{turns})")
        click.echo(f"    {t.description}")
    click.echo("\nShow one with `miner templates show NAME`; use your own with --template PATH.")


@command.command("show")
@click.argument("name")
@click.option("--variables", is_flag=True, help="Also list the $variables a template can use.")
@debug_option
@handle_errors
def show(name, variables, debug):
    """Print a template (a shipped name, or a path) exactly as written, comments included.

    \b
    Examples:
      miner templates show scene-brief
      miner templates show scene-brief --variables
    """
    t = prompts.load_template(name)
    click.echo(t.raw.rstrip("\n"))
    if variables:
        click.echo("\n# $variables available in generator.instruction, offline and example.user:")
        for k, v in prompts.VARIABLES.items():
            click.echo(f"#   ${k:<16} {v}")
        click.echo("# example.user can also use every field of the answer (e.g. $brief).")
