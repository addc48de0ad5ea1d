"""Imported once by the fork server that starts `miner convert`'s worker processes (see
miner.parallel): what is loaded here is shared by every worker instead of rebuilt in each."""
from miner import pipeline, retries, tokens, writers  # noqa: F401

try:
    tokens.encoding()
except Exception:  # noqa: BLE001 - a broken install is reported by the worker that counts, with its message
    pass
