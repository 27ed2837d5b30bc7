"""Timing loops on ``torch.utils.benchmark.Timer``: it synchronises the accelerator around each
measurement and runs at the thread count we give it (its default is one thread)."""

from __future__ import annotations

import torch


def _timer_class():
    """``torch.utils.benchmark.Timer``, imported without its noise: the package imports
    ``torch.utils.cpp_extension`` (for C++ timing we never use), which logs "No CUDA runtime is
    found" on every machine without CUDA. That one logger is quietened there, nothing else."""
    import logging

    if not torch.cuda.is_available():
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils.benchmark import Timer

    return Timer


def time_calls(fn, repeats: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn``: ``repeats`` samples (or a few more) after ``warmup`` calls.

    ``Timer.timeit(1)`` makes two untimed calls and then times one: with ``warmup <= 2`` that
    timed call is the first sample; longer warm-ups add untimed calls. Its time sizes the rest of
    the measurement (``blocked_autorange`` with ``min_run_time = remaining samples x`` that time),
    topped up with blocks of the same size until there are ``repeats`` (a slow first call, or a call
    much faster than the timer's resolution, leaves fewer); each sample is a block's mean per call.
    """
    Timer = _timer_class()
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    first = timer.timeit(1)
    for _ in range(warmup - 3):
        fn()
    samples = [first.mean] if warmup <= 2 else []
    need = max(repeats, 1) - len(samples)
    if need > 0:
        m = timer.blocked_autorange(min_run_time=need * first.mean)
        times = list(m.times)
        while len(times) < need:  # fast calls were grouped in blocks (or the first call was slow): more blocks
            times += timer.timeit(m.number_per_run).times
        samples += times
    return samples


def time_once(fn, cuda: bool = False) -> float:
    """Seconds of one call of ``fn`` (``time.perf_counter``; the accelerator synchronised around it):
    the sample of one round when several models are timed in turn, where the Timer's own untimed
    calls would double the work."""
    import time

    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


TIMER = "torch.utils.benchmark.Timer (blocked_autorange, accelerator synchronised)"
