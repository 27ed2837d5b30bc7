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
