"""``medattn-bench review BUNDLE``: the maintainer's check of a submitted block.

1. The bundle is checked against its own ``submission.json`` (every listed record present, its
   sha256 the listed one, a record of the named block and suite, vetted like any record).
2. The block's code installed here must be the code the records name (same source sha256):
   otherwise re-training would test another block.
3. ``sample`` records, drawn with ``seed``, are re-trained with ``verify`` (its rule: identical,
   consistent within 3 sd of the block's spread over the bundle's other runs, or not).
4. ``check.json`` is written into the bundle; with ``accept``, the records join the board's suite
   folder (never replacing one) and the two files are kept beside them, where the board reads
   them to mark the row "re-trained k of n: consistent" (:func:`submission.marks`).
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

from .errors import RecordError
from .records.submission import Check, Retrained, check_bundle, write_check


def installed_source(attention: str) -> str | None:
    """The source sha256 of the block registered here under ``attention`` (None: not registered)."""
    from .attention import ATTENTION
    from .plugins import provenance

    if attention not in ATTENTION:
        return None
    entry = ATTENTION.entry(attention)
    return provenance(entry.obj, entry.origin).get("source_sha256")


def review(folder: Path, sample: int, seed: int = 0, data_root: str | None = None,
           plugins: tuple[str, ...] = (), log=print) -> Check:
    from .engine.device import cpu_name, instruction_sets
    from .names import isa_label
    from .verify import verify_record

    sub, sha, recs = check_bundle(folder)
    name = recs[0].run.attention
    here = installed_source(name)
    if here is None:
        raise RecordError(f"block {name!r} is not installed here: install the submission's distribution "
                          f"({sub.distribution or 'named in its pull request'} {sub.version or ''}) or name its module "
                          "with --plugin, then review again")
    if here != sub.source_sha256:
        raise RecordError(f"the block {name!r} installed here (source sha256 {here[:12]}) is not the submitted code "
                          f"({(sub.source_sha256 or 'not recorded')[:12]}): install {sub.distribution or 'it'} "
                          f"{sub.version or ''} as submitted, then review again")
    k = min(sample, len(recs))
    picked = sorted(random.Random(seed).sample(range(len(recs)), k))
    results = []
    for i in picked:
        v = verify_record(recs[i], data_root, plugins)
        log(v.line())
        results.append(Retrained(file=sub.records[i].file, sha256=sub.records[i].sha256, verdict=v.verdict,
                                 delta=round(v.delta, 4), line=v.line()))
    check = Check(block=sub.block, suite=sub.suite, submission_sha256=sha, sampled=k, of=len(recs), seed=seed,
                  machine=f"{cpu_name()} ({isa_label(instruction_sets())})",
                  date=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), results=results)
    write_check(folder, check)
    return check
