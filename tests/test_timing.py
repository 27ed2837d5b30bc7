import time

import torch

from medattn_bench.timing import time_calls


def test_time_calls_samples_at_the_callers_thread_count():
    seen = []

    def fn():
        seen.append(torch.get_num_threads())
        time.sleep(0.01)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        times = time_calls(fn, repeats=4, warmup=1)
    finally:
        torch.set_num_threads(before)
    assert 4 <= len(times) <= 8
    assert all(0.009 < t < 0.5 for t in times)
    # torch's Timer defaults to one thread; throughput must be measured at the run's thread count.
    assert set(seen) == {2}


def test_time_calls_counts_its_calls():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.005)

    times = time_calls(fn, repeats=1, warmup=1)
    assert len(times) == 1 and len(calls) == 3  # two untimed warm-up calls, one timed
    calls.clear()
    times = time_calls(fn, repeats=3, warmup=4)
    assert len(times) >= 3 and len(calls) >= 4 + 3  # every sample comes after the four warm-up calls
