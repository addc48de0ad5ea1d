"""miner: turn the writing people already have into fine-tuning datasets.

The flow, left to right (each stage a module or folder):

    sources  ->  parsers/<format>.py  ->  transforms  ->  (synthesis)  ->  writers/<format>.py
    (files, folders, ZIPs)  (records)     (pure functions)   (miner.llm)     (JSONL lines)

The CLI (miner.cli) is a thin layer over the library functions in miner.pipeline.
"""
import os as _os

__version__ = "0.1.0"

# In a source checkout, parsers/ and templates/ sit beside miner/ (see pyproject.toml's
# package-dir); installed, they are real subpackages. Letting the checkout's root act as a
# second search path for miner's subpackages makes `python -m pytest` from the repository
# behave exactly like the installed package.
_here = _os.path.dirname(__file__)
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "parsers")) and _os.path.isfile(
    _os.path.join(_root, "parsers", "__init__.py")
):
    __path__.append(_root)  # type: ignore[name-defined]
