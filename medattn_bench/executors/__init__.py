"""Executors run a planned list of :class:`~medattn_bench.execute.RunSpec` through
:func:`~medattn_bench.execute.run_and_store`: ``local`` (serial or a process pool)."""

from .local import LocalExecutor, measure_costs

__all__ = ["LocalExecutor", "measure_costs"]
