"""A submitted block: what an author sends, what a maintainer's check found, and how a board row
is marked from the two.

- :func:`bundle` (``medattn-bench submit``): the block's records of one suite folder, copied into
  ``BUNDLE/<suite>/<data set>/<block>/seed*.json`` beside a copy of the folder's ``suite.json``,
  and ``BUNDLE/submission.json``: the block, its distribution, version and source sha256 (as its
  records name them), the machines its runs came from, and every record file with its sha256.
- The maintainer's check (``medattn-bench review``, :mod:`medattn_bench.review`) re-trains a
  sample of the records with ``verify`` and writes ``BUNDLE/check.json``; when accepted, the
  records join the suite folder and both files are kept in ``<suite folder>/.submissions/<block>/``
  (a hidden folder: never read as records).
- :func:`marks` reads those files back, checks them against the records the board uses (by
  sha256), and says per row "re-trained k of n: consistent", or "unverified" and why.

Both files are untrusted input like records: read bounded, validated, and any problem named.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import medattn_bench

from ..errors import RecordError
from ..jsonio import write_text_atomic
from ..settings import SAFE_NAME
from .schema import SUITE_FILE, RunRecord, machine_label
from .store import load_records, read_bounded, text_sha256
from .trust import vet

SUBMISSION_FILE = "submission.json"
CHECK_FILE = "check.json"
SUBMISSIONS_DIR = ".submissions"
OK_VERDICTS = ("identical", "consistent")
_PART = r"[A-Za-z0-9][A-Za-z0-9_.+\-]{0,99}"
_FILE = rf"^{_PART}/{_PART}/seed[0-9]+(-init[0-9]+)?\.json$"  # no name from a submission leaves its folder


class SubmittedRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str = Field(pattern=_FILE)  # relative to the suite folder: <data set>/<block>/seedS.json
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    machine: str


class Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field("medattn-bench submission", pattern=r"^medattn-bench submission$")
    block: str = Field(pattern=SAFE_NAME)
    suite: str = Field(pattern=SAFE_NAME)
    origin: str | None = None
    distribution: str | None = None
    version: str | None = None
    source_sha256: str | None = None
    medattn_bench: str
    created: str
    records: list[SubmittedRecord] = Field(min_length=1)


class Retrained(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str = Field(pattern=_FILE)
    sha256: str
    verdict: str  # verify's: identical / consistent / not consistent / not reproduced / undecided
    delta: float  # AUC points, re-trained minus stored
    line: str


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field("medattn-bench check", pattern=r"^medattn-bench check$")
    block: str = Field(pattern=SAFE_NAME)
    suite: str = Field(pattern=SAFE_NAME)
    submission_sha256: str
    sampled: int = Field(ge=1)
    of: int = Field(ge=1)
    seed: int
    machine: str
    date: str
    results: list[Retrained]

    @property
    def consistent(self) -> bool:
        return bool(self.results) and all(r.verdict in OK_VERDICTS for r in self.results)


def read_model(path: Path, model: type[BaseModel]) -> tuple[BaseModel, str]:
    """One submission or check file, validated, and the sha256 of its text; RecordError (one line)."""
    try:
        text = read_bounded(path, 4 * 1024 * 1024)
        return model.model_validate(json.loads(text)), text_sha256(text)
    except ValueError as exc:  # unreadable, not JSON, or invalid
        if isinstance(exc, ValidationError):
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            raise RecordError(f"{path}: {loc}: {err['msg']}") from None
        raise RecordError(f"{path}: {exc}") from None


def _dump(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"


def bundle(suite_folder: Path, block: str, out: Path) -> tuple[Submission, list[str]]:
    """Write the bundle of ``block``'s records in ``suite_folder`` to ``out`` (a new or empty
    folder); the submission and warnings for the author. RecordError when nothing can be sent."""
    suite_folder = Path(suite_folder)
    info = suite_folder / SUITE_FILE
    if not info.is_file():
        raise RecordError(f"{suite_folder}: no {SUITE_FILE}; name the records folder of one suite "
                          "(for example leaderboard/records/demo)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RecordError(f"--out {out}: exists and is not an empty folder; nothing written (name a new folder)")
    recs, problems = load_records(suite_folder)
    mine = [r for r in recs if r.run.variant == block]
    if not mine:
        known = sorted({r.run.variant for r in recs})
        raise RecordError(f"--attention {block}: no records of that block in {suite_folder}; blocks there: "
                          f"{', '.join(known) or 'none'}")
    usable, unused, _ = vet(recs)
    bad = [u for u in unused if Path(u.path).parts[-2:-1] == (block,)]
    bad_read = [p for p in problems if f"/{block}/" in p.replace("\\", "/")]
    if bad or bad_read:
        first = bad[0].line() if bad else bad_read[0]
        raise RecordError(f"{len(bad) + len(bad_read)} record(s) of {block} cannot be sent, first: {first}")
    mine = [r for r in usable if r.run.variant == block and r.ok]
    if not mine:
        raise RecordError(f"--attention {block}: every run of it in {suite_folder} failed; nothing to send")
    blocks = {json.dumps({k: r.attention_block.get(k) for k in ("origin", "distribution", "version", "source_sha256")},
                         sort_keys=True) for r in mine}
    if len(blocks) > 1:
        raise RecordError(f"the records of {block} name {len(blocks)} versions of its code (source sha256 / "
                          "distribution version differ); re-train them with one version, then submit")
    code = json.loads(next(iter(blocks)))
    suite = mine[0].suite
    warnings = []
    base = {(r.run.dataset, r.run.seed, r.run.init_seed): machine_label(r) for r in usable if r.run.variant != block}
    crossed = sorted({(machine_label(r), base[k]) for r in mine
                      if (k := (r.run.dataset, r.run.seed, r.run.init_seed)) in base and base[k] != machine_label(r)})
    for here, there in crossed:
        warnings.append(f"runs of {block} come from {here}, the other variants' of the same splits from {there}: "
                        "the board shows such a row without a verdict")
    entries = []
    for r in sorted(mine, key=lambda r: (r.run.dataset, r.run.seed, r.run.init_seed)):
        rel = Path(r.path).resolve().relative_to(suite_folder.resolve()).as_posix()
        entries.append(SubmittedRecord(file=rel, sha256=r.digest or "", machine=machine_label(r)))
    sub = Submission(block=block, suite=suite, origin=code["origin"], distribution=code["distribution"],
                     version=code["version"], source_sha256=code["source_sha256"],
                     medattn_bench=medattn_bench.__version__,
                     created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), records=entries)
    target = out / suite
    for e in entries:
        dest = target / e.file
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(suite_folder / e.file, dest)
    shutil.copyfile(info, target / SUITE_FILE)
    write_text_atomic(out / SUBMISSION_FILE, _dump(sub))  # last: a bundle without it is visibly unfinished
    return sub, warnings


def write_check(folder: Path, check: Check) -> None:
    write_text_atomic(Path(folder) / CHECK_FILE, _dump(check))


def check_bundle(folder: Path) -> tuple[Submission, str, list[RunRecord]]:
    """The bundle's submission, its sha256 and its records, each checked against the file list
    (present, same sha256, the named block and suite, its code the submission's); RecordError."""
    folder = Path(folder)
    sub, sha = read_model(folder / SUBMISSION_FILE, Submission)
    target = folder / sub.suite
    recs, problems = load_records(target)
    if problems:
        raise RecordError(problems[0])
    usable, unused, _ = vet(recs)
    if unused:
        raise RecordError(unused[0].line())
    by_rel = {Path(r.path).resolve().relative_to(target.resolve()).as_posix(): r for r in usable}
    listed = {e.file for e in sub.records}
    for e in sub.records:
        r = by_rel.get(e.file)
        if r is None:
            raise RecordError(f"{folder / SUBMISSION_FILE}: lists {e.file}, which the bundle lacks")
        if r.digest != e.sha256:
            raise RecordError(f"{target / e.file}: sha256 {r.digest}, the submission lists {e.sha256}: "
                              "changed after it was bundled")
        if r.run.variant != sub.block or r.suite != sub.suite:
            raise RecordError(f"{target / e.file}: a record of {r.suite}/{r.run.variant}, not of {sub.suite}/{sub.block}")
        if r.attention_block.get("source_sha256") != sub.source_sha256:
            raise RecordError(f"{target / e.file}: its block's source sha256 is not the submission's")
    extra = sorted(set(by_rel) - listed)
    if extra:
        raise RecordError(f"{target / extra[0]}: in the bundle but not in its submission.json")
    return sub, sha, [by_rel[e.file] for e in sub.records]


def accept(folder: Path, records_root: Path) -> list[Path]:
    """Copy a checked bundle's records into ``records_root/<suite>/`` (an existing file is never
    replaced: identical ones are skipped, different ones refused before anything is copied), and
    its submission and check into ``<suite folder>/.submissions/<block>/``."""
    from .store import inside_folder

    sub, _, recs = check_bundle(folder)
    check, _ = read_model(Path(folder) / CHECK_FILE, Check)
    suite_folder = Path(records_root) / sub.suite
    if not (suite_folder / SUITE_FILE).is_file():
        raise RecordError(f"{records_root}: holds no suite {sub.suite!r} (no {sub.suite}/{SUITE_FILE}); nothing copied")
    todo = []
    for e in sub.records:
        dest = inside_folder(suite_folder, suite_folder / e.file)
        src = Path(folder) / sub.suite / e.file
        if dest.exists():
            if dest.read_bytes() != src.read_bytes():
                raise RecordError(f"{dest}: exists with other contents; nothing copied (a submission never "
                                  "replaces a record)")
            continue
        todo.append((src, dest))
    for src, dest in todo:
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(dest, src.read_text())
    keep = suite_folder / SUBMISSIONS_DIR / sub.block
    keep.mkdir(parents=True, exist_ok=True)
    write_text_atomic(keep / SUBMISSION_FILE, (Path(folder) / SUBMISSION_FILE).read_text())
    write_check(keep, check)
    return [d for _, d in todo]


class Mark(BaseModel):
    """What the board says of one submitted row (see :func:`marks`)."""

    block: str
    code: str  # "medattn-scse 0.1.0, source 1a2b3c4d" or "built in"
    state: str  # "re-trained k of n: consistent" / "re-trained k of n: j not consistent" / "unverified: ..."
    checked_on: str = ""

    @property
    def verified(self) -> bool:
        return self.state.startswith("re-trained") and self.state.endswith(": consistent")

    def text(self) -> str:
        where = f" on {self.checked_on}" if self.checked_on else ""
        return f"{self.block} ({self.code}): {self.state}{where}"


def _code(sub: Submission) -> str:
    src = f"source {sub.source_sha256[:8]}" if sub.source_sha256 else "source not recorded"
    dist = f"{sub.distribution} {sub.version}, " if sub.distribution else ""
    return dist + src


def marks(records: list[RunRecord], suite_folders: dict[str, Path]) -> tuple[dict[tuple[str, str, str], Mark], list[str]]:
    """{(suite, data set, block): Mark} for every block with a submission under a suite folder's
    ``.submissions/``, and one problem line per file that cannot be used. A row is verified only
    when every record the board uses for it is one the submission lists (same sha256), the check
    was made of this submission, and every record it re-trained is identical or consistent."""
    out: dict[tuple[str, str, str], Mark] = {}
    problems: list[str] = []
    rows: dict[tuple[str, str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        rows[(r.suite, r.run.dataset, r.run.variant)].append(r)
    for suite, folder in sorted(suite_folders.items()):
        base = Path(folder) / SUBMISSIONS_DIR
        if not base.is_dir() or base.is_symlink():
            continue
        for sub_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink()):
            try:
                sub, sha = read_model(sub_dir / SUBMISSION_FILE, Submission)
            except RecordError as exc:
                problems.append(f"{exc}; the submission is not shown")
                continue
            if sub.suite != suite or sub.block != sub_dir.name:
                problems.append(f"{sub_dir / SUBMISSION_FILE}: names {sub.suite}/{sub.block}, but sits in "
                                f"{suite}/{sub_dir.name}; not shown")
                continue
            check, why = None, "not re-trained by a maintainer"
            if (sub_dir / CHECK_FILE).exists():
                try:
                    check, _ = read_model(sub_dir / CHECK_FILE, Check)
                except RecordError as exc:
                    problems.append(str(exc))
                    why = "its check cannot be read"
                if check is not None and check.submission_sha256 != sha:
                    check, why = None, "its check was made of another submission"
            listed = {e.sha256 for e in sub.records}
            if check is not None and not {x.sha256 for x in check.results} <= listed:
                check, why = None, "its check re-trained records the submission does not list"
            for (s, ds, v), recs in sorted(rows.items()):
                if s != suite or v != sub.block:
                    continue
                foreign = sum(r.digest not in listed for r in recs)
                if foreign:
                    state = f"unverified: {foreign} of {len(recs)} records differ from the submission"
                elif check is None:
                    state = f"unverified: {why}"
                else:
                    bad = sum(x.verdict not in OK_VERDICTS for x in check.results)
                    state = (f"re-trained {check.sampled} of {check.of}: "
                             + ("consistent" if not bad else f"{bad} not consistent"))
                out[(s, ds, v)] = Mark(block=v, code=_code(sub), state=state,
                                       checked_on=check.machine if check is not None and not foreign else "")
    return out, problems
