"""``python -m medattn_bench`` is the ``medattn-bench`` command."""

from .cli import main

main()
