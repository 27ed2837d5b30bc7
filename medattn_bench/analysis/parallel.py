"""Where a board's case-only bootstraps run: worker processes beside the rest of the analysis.

Most of a suite's analysis is Python that holds the GIL; the case-only bootstraps (counting
resampled cases, matrix products: about half of the reference board's analysis) are numpy work
that the other cores can do meanwhile. Threads of one process overlap them poorly (the counting
holds the GIL, and BLAS thread pools spin against each other), so on a machine with several cores
forked worker processes with one BLAS thread each take them: each job's inputs (one data set's
paired test scores) go to a worker pickled and its result comes back, the same numbers as computed
in line (tests/test_analysis_speed.py). Small boards, platforms without ``fork`` and processes that
already run other threads keep threads."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Iterator

MIN_RECORDS = 300  # below this, starting worker processes costs more than they save


def cores() -> int:
    """Cores this process may use (its CPU affinity where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def use_processes(n_records: int) -> bool:
    return (n_records >= MIN_RECORDS and cores() >= 2 and "fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1)


@contextlib.contextmanager
def bootstrap_pool(n_records: int) -> Iterator[Executor]:
    """An executor for the bootstraps of a board of ``n_records`` records: at most two worker
    processes where that pays (:func:`use_processes`), else threads of this process."""
    workers = min(2, cores())
    if not use_processes(n_records):
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medattn-bootstrap") as pool:
            yield pool
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_one_blas_thread) as pool:
        yield pool


def _one_blas_thread() -> None:
    """A worker shares the cores with its parent and its sibling: one BLAS thread each, so that no
    BLAS pool spins on a core another process needs."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
