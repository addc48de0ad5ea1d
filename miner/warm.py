"""Imported once by the fork server that starts `miner convert`'s worker processes (see
miner.parallel): what is loaded here is shared by every worker instead of rebuilt in each."""
import os

from miner import pipeline, retries, tokens, writers  # noqa: F401

# Workers report through their results; what they might print is noise from a process that is
# being torn down (Ctrl-C while they start), so it does not reach the user's terminal.
_null = os.open(os.devnull, os.O_WRONLY)
os.dup2(_null, 2)
os.close(_null)

try:
    tokens.encoding()
except Exception:  # noqa: BLE001 - a broken install is reported by the worker that counts, with its message
    pass
