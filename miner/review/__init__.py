"""`miner review`: a local web page to audit and curate a finished dataset by eye.

Where it sits: after convert/synth/clean, before upload. The flow is

    JSONL dataset --(store.Store.open: streamed once into SQLite)--> edit store
    edit store <--(app: Flask pages on 127.0.0.1, token-protected)--> the author's browser
    edit store --(stats: miner.hygiene.stats on the current state, in the background)--> flags
    edit store + original file --(Store.save: AtomicFile)--> <name>.reviewed.jsonl

The original file is only ever read. Edits live in `<out>.review.sqlite` until saved (and
after, so the author can keep going), so they survive a closed terminal or a restart.
"""
from __future__ import annotations

from .store import ListQuery, Replace, Store, default_out, store_path_for

__all__ = ["ListQuery", "Replace", "Store", "default_out", "store_path_for"]
