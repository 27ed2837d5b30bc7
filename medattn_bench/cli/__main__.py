"""``python -m medattn_bench.cli``: the same command as ``medattn-bench``."""

from . import main

main()
