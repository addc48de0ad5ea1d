"""`miner synth`: manuscripts, essays and notes -> "write like me" training data. Thin: parse
the options, call miner.synth.synth, print its summary."""
from __future__ import annotations

import click

from miner import writers
from miner.errors import MinerError
from miner.synth import SynthOptions, synth

from .common import debug_option, force_option, handle_errors, print_summary, progress, quiet_option


@click.command("synth")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="The JSONL file to write.")
@click.option("--template", default="scene-brief", show_default=True,
              help="A template name (see `miner templates`) or the path of your own template .yaml.")
@click.option("--system", help="Persona system prompt put first in every example (\"You are Inkwell, ...\").")
@click.option("--system-file", type=click.Path(exists=True, dir_okay=False), help="Read the persona from a file.")
@click.option("--provider", type=click.Choice(["offline", "openai", "gemini"]), default="offline", show_default=True,
              help="Who writes the prompts: offline (no LLM, no key), openai (or any OpenAI-compatible "
                   "server via --base-url), gemini.")
@click.option("--model", default="", help="Model name. Defaults: gpt-4o-mini (openai), gemini-2.5-flash (gemini).")
@click.option("--base-url", help="OpenAI-compatible server, e.g. http://localhost:11434/v1 (Ollama); "
                                 "or a Gemini endpoint. Also read from OPENAI_BASE_URL.")
@click.option("--format", "fmt", default="openai", show_default=True, type=click.Choice(list(writers.FORMATS)),
              help="Output format. openai-dpo / trl-preference need --rejected-model.")
@click.option("--rejected-model", help="Preference pairs: this model drafts an answer to every prompt; your "
                                       "passage is preferred, its draft is not.")
@click.option("--chunker", type=click.Choice(["structure", "llm"]), default="structure", show_default=True,
              help="Cut passages at headings/scene breaks (structure), or also where the LLM sees the "
                   "topic change (llm; for notes and essays without headings).")
@click.option("--min-tokens", type=click.IntRange(min=0), default=200, show_default=True,
              help="Shortest passage, in tokens (about 3/4 of a word each).")
@click.option("--max-tokens", type=click.IntRange(min=16), default=1200, show_default=True,
              help="Longest passage, in tokens.")
@click.option("--turns", type=click.IntRange(min=1),
              help="Passages per conversation (consecutive, same chapter). Default: the template's (1; continue: 4).")
@click.option("--example-tokens", type=click.IntRange(min=256), default=16384, show_default=True,
              help="Token budget of one multi-turn conversation.")
@click.option("--concurrency", type=click.IntRange(min=1),
              help="Calls at once. Default: openai 8, gemini 4, local servers 2.")
@click.option("--rpm", type=click.IntRange(min=1), help="At most this many requests per minute.")
@click.option("--tpm", type=click.IntRange(min=1), help="At most this many tokens per minute.")
@click.option("--retries", type=click.IntRange(min=0), default=5, show_default=True,
              help="Retries per call on rate limits and server errors, before the run stops.")
@click.option("--max-cost", type=click.FloatRange(min=0), help="Stop before spending more than this many US dollars.")
@click.option("--dry-run", is_flag=True, help="Show the calls, tokens and cost it would take; call nothing.")
@click.option("--prices", type=click.Path(exists=True, dir_okay=False),
              help="Your own price table (same layout as templates/prices.yaml).")
@click.option("--cache", type=click.Path(dir_okay=False), help="The cache file (default: your user cache folder, "
                                                                "or $MINER_CACHE_DIR).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache (a stopped run cannot resume).")
@force_option
@quiet_option
@debug_option
@handle_errors
def command(inputs, out, template, system, system_file, provider, model, base_url, fmt, rejected_model, chunker,
            min_tokens, max_tokens, turns, example_tokens, concurrency, rpm, tpm, retries, max_cost, dry_run,
            prices, cache, no_cache, force, quiet, debug):
    """Turn your own prose into "write like me" training data: for every passage, the request
    that would have produced it becomes the user turn, and your passage, word for word, the
    answer.

    \b
    Examples:
      miner synth novel.docx -o write-like-me.jsonl --template scene-brief --system "You are Inkwell, ..."
      export OPENAI_API_KEY=sk-...
      miner synth novel.docx -o wlm.jsonl --provider openai --model gpt-4o-mini --dry-run   # cost first
      miner synth novel.docx -o wlm.jsonl --provider openai --model gpt-4o-mini --max-cost 2
      export GEMINI_API_KEY=...
      miner synth notes/ -o qa.jsonl --template qa --provider gemini --model gemini-2.5-flash
      miner synth essays/ -o wlm.jsonl --provider openai --base-url http://localhost:11434/v1 --model llama3.1
      miner synth novel.docx -o dpo.jsonl --provider openai --format openai-dpo --rejected-model gpt-4o-mini
      miner synth chunks.jsonl -o story.jsonl --template continue --turns 3

    Without --provider everything runs offline: prompts are built from each passage's
    headings, length, point of view and dialogue. With a provider, every answer is cached:
    if a run stops (Ctrl-C, --max-cost, an outage), run the same command again and it
    continues where it stopped without paying twice.
    """
    if system_file:
        with open(system_file, encoding="utf-8") as f:
            system = f.read().strip()
    opts = SynthOptions(template=template, system=system or None, provider=provider, model=model, base_url=base_url,
                        format=fmt, rejected_model=rejected_model, chunker=chunker, min_tokens=min_tokens,
                        max_tokens=max_tokens, turns=turns, example_tokens=example_tokens, concurrency=concurrency,
                        rpm=rpm, tpm=tpm, retries=retries, max_cost=max_cost, dry_run=dry_run, prices=prices,
                        cache=cache, no_cache=no_cache, force=force)
    with progress("Synthesizing", quiet=quiet or dry_run, unit="passages") as advance:
        try:
            summary = synth(list(inputs), out, opts, progress=advance)
        except MinerError as e:
            if getattr(e, "summary", None) is not None:
                print_summary(e.summary, quiet)
            raise
    print_summary(summary, quiet)
