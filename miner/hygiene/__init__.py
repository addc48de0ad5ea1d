"""Dataset hygiene: the stage after a dataset exists and before it is uploaded.

    dataset.jsonl -> validate (provider rules, tokens, cost)
                  -> stats    (lengths, tics, near-duplicates, diversity; --html report)
                  -> clean    (replace, redact, drop refusals/duplicates/outliers)
                  -> split    (train / validation, duplicates never straddle)

Every module reads lines through miner.hygiene.io, which streams the file and understands
every format miner writes (miner.writers). Near-duplicate detection (dedupe.py) is the only
part whose memory grows with the file: a MinHash signature and an LSH entry per example.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from miner.errors import ConfigError


def template_text(name: str, override: str | None = None) -> str:
    """The text of a packaged file in templates/ (or of `override`, a user's own file)."""
    if override:
        try:
            return Path(override).read_text(encoding="utf-8-sig")
        except OSError as e:
            raise ConfigError(f"{override}: cannot read it ({e.strerror or e})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{override}: is not UTF-8 text; save it as UTF-8") from None
    try:
        return resources.files("miner.templates").joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover - packaging error
        raise ConfigError(f"the packaged file templates/{name} is missing; reinstall miner") from None


def load_yaml(name: str, override: str | None = None) -> dict:
    import yaml

    where = override or f"templates/{name}"
    try:
        data = yaml.safe_load(template_text(name, override))
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: is not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of names to settings at the top level")
    return data
