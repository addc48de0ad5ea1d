"""Imported once by the fork server that starts `miner convert`'s worker processes (see
miner.parallel): what is loaded here is shared by every worker instead of rebuilt in each.

First, before the slow imports: the server and its workers ignore Ctrl-C (the main process
decides what an interrupt means) and their stderr goes nowhere. Workers report through their
results; anything they might print is noise from a process being torn down (Ctrl-C while they
start), which must not reach the user's terminal as a traceback."""
import os
import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
_null = os.open(os.devnull, os.O_WRONLY)
os.dup2(_null, 2)
os.close(_null)

from miner import pipeline, retries, tokens, writers  # noqa: E402,F401

try:
    tokens.encoding()
except Exception:  # noqa: BLE001 - a broken install is reported by the worker that counts, with its message
    pass
