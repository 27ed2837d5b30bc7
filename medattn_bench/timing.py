"""Timing loops on ``torch.utils.benchmark.Timer``: it synchronises the accelerator around each
measurement and runs at the thread count we give it (its default is one thread)."""

from __future__ import annotations

import torch


def time_calls(fn, repeats: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn``: about ``repeats`` samples (at least that many) after ``warmup`` calls.

    The warm-up calls are timed too, and their mean sizes the measurement window
    (``blocked_autorange`` with ``min_run_time = repeats x`` that mean), so slow and fast calls
    alike give about ``repeats`` samples; a call much faster than the timer's resolution is
    timed in blocks and each sample is a block's mean.
    """
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    warm = timer.timeit(max(1, warmup))  # Timer runs 2 untimed calls first
    m = timer.blocked_autorange(min_run_time=repeats * warm.mean)
    if len(m.times) < repeats:  # fast calls were grouped in blocks: widen the window to `repeats` blocks
        m = timer.blocked_autorange(min_run_time=repeats * m.number_per_run * m.mean * 1.05)
    return list(m.times)


TIMER = "torch.utils.benchmark.Timer (blocked_autorange, accelerator synchronised)"
