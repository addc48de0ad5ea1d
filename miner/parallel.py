"""Ordered work in worker processes, for the CPU-heavy stages of a long run.

Exports are one big JSON array, read by one process; but what is done with each conversation
(retry detection above all, and exact token counts) costs more than reading it. An OrderedPool
hands batches of items to worker processes and gives the results back in the order the batches
went in, so the output file is byte for byte what a single process writes. At most `ahead`
batches are out at once, so memory stays flat however big the input is.

Workers come from a fork server (POSIX) that has already imported miner and built the o200k
encoder: every worker shares those pages instead of building its own ~80 MB copy, and the main
process (which may run a progress-bar thread) is never forked itself.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from .errors import MinerError

__all__ = ["BrokenProcessPool", "OrderedPool", "WorkerDied", "auto_jobs"]

MAX_AUTO_JOBS = 4
PRELOAD = ["miner.warm"]


def auto_jobs() -> int:
    """One worker per CPU this process may use, at most MAX_AUTO_JOBS: each costs ~15 MB, and past four the
    reading process, not the workers, sets the pace."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_AUTO_JOBS))


def _context():
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


def _init(setup: Callable | None, args: tuple) -> None:
    # Ctrl-C reaches the whole process group; only the main process decides what happens then.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = mp.parent_process()
    if parent is not None and parent.sentinel is not None:
        # A worker waits on pipes it holds both ends of, so it would never notice a main process
        # that was killed (kill -9, out of memory): watch for that and leave with it.
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    if setup is not None:
        setup(*args)


def _exit_with(sentinel: int) -> None:
    from multiprocessing.connection import wait

    wait([sentinel])
    os._exit(1)


class WorkerDied(MinerError):
    pass


class OrderedPool:
    """`fn(batch)` in `jobs` worker processes; results come back in submission order.

        with OrderedPool(fn, jobs=4) as pool:
            for batch in batches:
                for result in pool.submit(batch):   # results that are ready, oldest first
                    use(result)
            for result in pool.drain():
                use(result)
    """

    def __init__(self, fn: Callable[[Any], Any], jobs: int, setup: Callable | None = None, args: tuple = (),
                 ahead: int | None = None):
        self.fn = fn
        self.ahead = ahead or 2 * jobs
        self._pending: deque[Future] = deque()
        try:
            # Start the workers now, not at the first batch, so that a machine where they
            # cannot start (no semaphores, a socket path too long, ...) fails here, where the
            # caller can still choose to work in one process. Ctrl-C is held back meanwhile:
            # the processes started here inherit that, so none of them dies of it half-started
            # (with a traceback on the user's terminal); it takes effect right after.
            with _sigint_held():
                self._ex = ProcessPoolExecutor(max_workers=jobs, mp_context=_context(), initializer=_init,
                                               initargs=(setup, args))
                self._ex.submit(os.getpid).result()
        except BaseException:
            if hasattr(self, "_ex"):
                self.close()
            raise

    def submit(self, batch: Any) -> Iterator[Any]:
        self._pending.append(self._ex.submit(self.fn, batch))
        while self._pending and (len(self._pending) > self.ahead or self._pending[0].done()):
            yield self._result(self._pending.popleft())

    def drain(self) -> Iterator[Any]:
        while self._pending:
            yield self._result(self._pending.popleft())

    @staticmethod
    def _result(f: Future) -> Any:
        try:
            return f.result()
        except BrokenProcessPool:
            raise WorkerDied("a worker process stopped unexpectedly (it may have run out of memory); "
                             "run again with --jobs 1 to work in one process") from None

    def close(self) -> None:
        """Cancel what has not started and wait for the batches under way (a fraction of a
        second). Workers are never killed mid-batch: one killed while sending its result
        leaves a half-written message that the pool's reader thread waits on forever."""
        with _no_sigint():  # a second Ctrl-C must not leave the pool half shut down (a hang)
            for f in self._pending:
                f.cancel()
            self._pending.clear()
            self._ex.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "OrderedPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def _sigint_held():
    """Block SIGINT in this thread (and the threads and processes it starts) inside the block;
    one that arrives meanwhile is delivered when the block ends."""
    can = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    if can:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if can:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextmanager
def _no_sigint():
    """Ignore Ctrl-C inside the block (Python runs signal handlers in the main thread only, so
    only there can this be done)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
