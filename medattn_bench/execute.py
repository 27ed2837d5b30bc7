"""The one unit of work: ``execute_run(spec, data_root) -> RunRecord``. Every executor (local,
process pool, Slurm) calls it through :func:`run_and_store`; nothing else trains."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from .settings import AttentionSpec, CamSpec, DatasetSpec, SplitSpec, TrainSpec


class RunSpec(BaseModel):
    """Everything one run needs, resolved from the suite: plain data, so it can be pickled to a
    pool process or a Slurm job."""

    model_config = ConfigDict(extra="forbid")

    suite: str
    dataset: DatasetSpec
    attention: AttentionSpec
    seed: int  # split seed
    init_seed: int = 0
    train: TrainSpec
    split: SplitSpec
    cam: CamSpec = CamSpec()
    epochs: int
    config: dict[str, Any]
    config_hash: str
    path: str
    cost: dict[str, Any] | None = None  # measured once per variant by the executor, uncontended
    status: str = "todo"  # todo | done | failed | stale (planning only)

    @property
    def name(self) -> str:
        init = f"/init{self.init_seed}" if self.init_seed else ""
        return f"{self.dataset.name}/{self.attention.key}/seed{self.seed}{init}"

    @property
    def torch_seed(self) -> int:
        """The seed of the model's initialisation and of the data order. Split seed s, first
        initialisation and no offset give s (the first record format's matrix); others a derived seed."""
        if self.init_seed == 0 and self.attention.init_offset == 0:
            return self.seed
        return int(np.random.SeedSequence([self.seed, self.init_seed, self.attention.init_offset]).generate_state(1)[0])


MIN_TRAIN_IMAGES = 8  # below this, batch norm statistics degenerate (non-finite test scores)

_DATA: dict[str, Any] = {}  # data set key -> ImageSet, loaded once per process
_CONTENT: dict[str, str] = {}  # data set key -> its content hash, computed on first use


def _data_key(spec: DatasetSpec, data_root: str | None) -> str:
    from .jsonio import canonical_hash

    return canonical_hash([spec.model_dump(), data_root])


def dataset_for(spec: DatasetSpec, data_root: str | None):
    """Load (once per process) the data set a run names."""
    from .data import load_dataset

    key = _data_key(spec, data_root)
    if key not in _DATA:
        _DATA[key] = load_dataset(spec.name, spec.options, data_root)
    return _DATA[key]


def content_hash_for(spec: DatasetSpec, data_root: str | None) -> str:
    key = _data_key(spec, data_root)
    if key not in _CONTENT:
        _CONTENT[key] = content_hash(dataset_for(spec, data_root))
    return _CONTENT[key]


def split_groups(data, split: SplitSpec) -> np.ndarray | None:
    from .data.splits import merge_groups

    return merge_groups(data.groups if split.group_duplicates else None,
                        data.patients if split.patient_groups else None)


def split_indices(data, name: str, split: SplitSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of split ``seed`` of ``data`` under ``split``."""
    from .data.splits import kfold_split, stratified_split
    from .errors import DataError

    if split.kind == "official":
        if data.official_split is None:
            raise DataError(f"eval.split.kind: data set {name!r} has no official split; use 'stratified' or 'kfold'")
        return np.flatnonzero(data.official_split != "test"), np.flatnonzero(data.official_split == "test")
    groups = split_groups(data, split)
    if split.kind == "kfold":
        return kfold_split(data.labels, name, seed // split.folds, seed % split.folds, split.folds, groups)
    return stratified_split(data.labels, name, seed, split.test_fraction, groups)


def _leakage(data, name: str, split: SplitSpec, seed: int, train_idx: np.ndarray, test_idx: np.ndarray) -> dict:
    """Groups crossing this run's split, and what a split blind to them would have leaked."""
    out: dict[str, Any] = {}
    naive = None
    if split.kind != "official":
        blind = split.model_copy(update={"group_duplicates": False, "patient_groups": False})
        naive = split_indices(data, name, blind, seed)
    for what, arr in (("duplicates", data.groups), ("patients", data.patients)):
        if arr is None:
            continue
        tr, te = set(arr[train_idx].tolist()), set(arr[test_idx].tolist())
        entry = {"crossing_split": len(tr & te)}
        if naive is not None:
            ntr, nte = naive
            crossing = set(arr[ntr].tolist()) & set(arr[nte].tolist())
            entry["would_leak_without_grouping"] = len(crossing)
            # this run's test images whose group a group-blind split would have cut in two
            entry["test_images_in_groups_a_blind_split_cuts"] = int(sum(g in crossing for g in arr[test_idx].tolist()))
        out[what] = entry
    if data.patients is not None:
        out["patient_groups"] = int(len(np.unique(data.patients)))
    out["audit"] = data.meta.get("audit")
    return out


def content_hash(data) -> str:
    """sha256 over the ids, labels and decoded pixels the loader produced (first 16 hex digits):
    two copies of a data set that differ in any file the run used give different hashes."""
    import hashlib

    h = hashlib.sha256()
    h.update("\n".join(data.ids).encode())
    h.update(np.asarray(data.labels, dtype=np.int64).tobytes())
    for chunk in data.images.split(512):
        h.update(chunk.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]



def execute_run(spec: RunSpec, data_root: str | None = None, on_epoch: Callable[[int, float], None] | None = None,
                threads: int | None = None):
    """Train and evaluate one run; return its :class:`~medattn_bench.results.RunRecord`."""
    import torch

    from .attention import ATTENTION
    from .cost import static_costs
    from .engine import TrainSettings, resolve_device, train_and_evaluate
    from .engine.train import Augment
    from .errors import DataError, DivergedError, MedattnError
    from .metrics import calibration
    from .models import resnet18
    from .plugins import provenance
    from .records import Metrics, RunInfo, RunRecord, TestScores, TimeInfo, protocol_part
    from .stats import delong_ci
    from .jsonio import canonical_hash

    started = datetime.now(timezone.utc)
    t0, c0 = time.perf_counter(), time.process_time()
    t = spec.train
    dev = resolve_device(t.device, t.precision, t.channels_last, threads or t.threads, t.image_size, t.batch_size)
    data = dataset_for(spec.dataset, data_root)
    try:
        train_idx, test_idx = split_indices(data, spec.dataset.name, spec.split, spec.seed)
        if len(set(data.labels[test_idx].tolist())) < 2 or len(set(data.labels[train_idx].tolist())) < 2:
            raise DataError(f"split seed {spec.seed} of {spec.dataset.name} ({len(data)} images) leaves one class only "
                            f"in its train or test side; the data set is too small or too unbalanced for this split")
        if len(train_idx) < MIN_TRAIN_IMAGES:
            raise DataError(f"split seed {spec.seed} of {spec.dataset.name} ({len(data)} images) leaves "
                            f"{len(train_idx)} training image(s); at least {MIN_TRAIN_IMAGES} are needed to train "
                            "a ResNet-18 with batch norm")
    except MedattnError as exc:
        return _failed_early(spec, started, t0, c0, dev, f"split: {exc}")
    entry = ATTENTION.entry(spec.attention.name)
    a = t.augment
    settings = TrainSettings(epochs=spec.epochs, batch_size=t.batch_size, lr=t.lr, momentum=t.momentum,
                             weight_decay=t.weight_decay, lr_milestones=tuple(t.lr_milestones), lr_gamma=t.lr_gamma,
                             image_size=t.image_size,
                             augment=Augment(a.hflip, a.vflip, a.rotate_deg, a.translate, tuple(a.scale)))
    labels = data.labels[test_idx]
    common: dict[str, Any] = dict(
        suite=spec.suite,
        run=RunInfo(dataset=spec.dataset.name, variant=spec.attention.key, attention=spec.attention.name,
                    hparams=spec.attention.hparams, seed=spec.seed, init_seed=spec.init_seed),
        config=spec.config, config_hash=spec.config_hash, protocol_hash=canonical_hash(protocol_part(spec.config)),
        attention_block={"paper": entry.meta.get("paper", ""), "placement": entry.meta.get("placement", "block"),
                         **provenance(entry.obj, entry.origin)},
        data={"n_images": len(data), "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
              "classes": list(data.classes), "meta": data.meta, "content_hash": content_hash_for(spec.dataset, data_root),
              "test_ids_hash": canonical_hash([data.ids[i] for i in test_idx]),
              "leakage": _leakage(data, spec.dataset.name, spec.split, spec.seed, train_idx, test_idx)},
        env=_env(spec, dev),
        cost=spec.cost or {},  # counted after training (below), so the first step is not kept waiting
    )
    train_s = None
    try:
        torch.manual_seed(spec.torch_seed)
        model = resnet18(spec.attention.name, spec.attention.hparams)
        out = train_and_evaluate(model, data.images, data.labels, train_idx, test_idx, settings, dev,
                                 spec.torch_seed, on_epoch or (lambda e, l: None))
        ci = delong_ci(labels, out.scores)
        metrics = Metrics(auc=ci.auc, auc_ci_delong=ci.to_dict(), n_test=int(len(labels)), n_pos=int(labels.sum()),
                          **calibration(labels, out.scores))
        test = TestScores(ids=[data.ids[i] for i in test_idx], labels=labels.tolist(),
                          scores=[float(s) for s in out.scores])
        status, failure, history, train_s = "ok", None, out.history, out.train_seconds
        if spec.cam.localisation and data.masks is not None:
            common["explain"] = explain_run(out.model, out.batcher, data, test_idx, spec.cam, t.image_size)
        keep = spec.cam.keep_weights
        if keep is True or (isinstance(keep, list) and spec.seed in keep):
            common["weights"] = save_weights(out.model, Path(spec.path).with_suffix(".pt"))
    except DivergedError as exc:
        status, failure, metrics, test, history = "failed", str(exc), None, None, []
        common.pop("explain", None)
    except (Exception, SystemExit) as exc:  # a bad hyper-parameter, a plugin that raises or exits: this run fails
        status, metrics, test, history = "failed", None, None, []
        common.pop("explain", None)
        common.pop("weights", None)
        failure = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else '(no message)'}"
        if isinstance(exc, SystemExit):
            failure += " (the code called sys.exit during training)"
    if not common["cost"] and status == "ok":  # parameters and MACs, remembered per process and variant
        common["cost"] = static_costs(spec.attention.name, spec.attention.hparams, t.image_size)
    return RunRecord(**common, status=status, failure=failure, metrics=metrics, test=test, history=history,
                     time=TimeInfo(started=started.isoformat(timespec="seconds"),
                                   finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                   wall_s=round(time.perf_counter() - t0, 3), train_s=train_s,
                                   cpu_s=round(time.process_time() - c0, 3)))


def _env(spec: RunSpec, dev) -> dict[str, Any]:
    """Where and with what a run was computed: package, commit, machine, device, seed, arithmetic."""
    from . import __version__
    from .engine.device import machine_summary
    from .models.smallmap import ARITHMETIC
    from .records import git_info

    return {"package_version": __version__, "git": git_info(), "machine": machine_summary(), "device": dev.to_dict(),
            "torch_seed": spec.torch_seed, "arithmetic": ARITHMETIC}


def _failed_early(spec: RunSpec, started, t0: float, c0: float, dev, failure: str):
    """The record of a run that failed before training (no split, no model): config and reason."""
    from .records import RunInfo, RunRecord, TimeInfo, protocol_part
    from .jsonio import canonical_hash

    return RunRecord(suite=spec.suite,
                     run=RunInfo(dataset=spec.dataset.name, variant=spec.attention.key, attention=spec.attention.name,
                                 hparams=spec.attention.hparams, seed=spec.seed, init_seed=spec.init_seed),
                     config=spec.config, config_hash=spec.config_hash,
                     protocol_hash=canonical_hash(protocol_part(spec.config)), status="failed", failure=failure,
                     env=_env(spec, dev),
                     time=TimeInfo(started=started.isoformat(timespec="seconds"),
                                   finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                   wall_s=round(time.perf_counter() - t0, 3),
                                   cpu_s=round(time.process_time() - c0, 3)))


def explain_images(data, test_idx: np.ndarray, max_images: int) -> np.ndarray:
    """The test images localisation is scored on: positives with a non-empty mask, by id order."""
    pos = [int(i) for i in test_idx if data.labels[i] == 1 and bool(data.masks[i].any())]
    return np.array(sorted(pos, key=lambda i: data.ids[i])[:max_images], dtype=np.int64)


def explain_run(model, batcher, data, test_idx: np.ndarray, cam, image_size: int) -> dict[str, Any]:
    """Grad-CAM of the positive class on the run's positive test images, scored against masks."""
    import torch
    import torch.nn.functional as F

    from .cam import cam_maps, localisation

    t0 = time.perf_counter()
    idx = explain_images(data, test_idx, cam.max_images)
    if len(idx) == 0:
        return {"method": cam.method, "n_images": 0, "ids": [], "energy": [], "pointing": [], "iou": []}
    masks = data.masks[torch.as_tensor(idx)].float()[:, None]
    if masks.shape[-1] != image_size:
        masks = F.interpolate(masks, size=(image_size, image_size), mode="nearest")
    maps = []
    for chunk in torch.as_tensor(idx).split(64):
        x = batcher.batch(chunk.to(batcher.images.device), None, None).float()
        maps.append(cam_maps(model, x, 1, cam.method, getattr(model, cam.layer)).cpu())
    scores = localisation(torch.cat(maps).numpy(), masks[:, 0].bool().numpy(), cam.top_k)
    return {"method": cam.method, "layer": cam.layer, "target": "positive class on positive test images",
            "top_k": cam.top_k, "n_images": int(len(idx)), "ids": [data.ids[i] for i in idx],
            **{k: [None if not np.isfinite(v) else float(v) for v in arr] for k, arr in scores.items()},
            "seconds": round(time.perf_counter() - t0, 3)}


def save_weights(model, path: Path) -> dict[str, Any]:
    """The model's state_dict at ``path`` (atomically) and its sha256."""
    import hashlib
    import os
    import tempfile

    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the file from colleagues
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"file": path.name, "sha256": digest}


def load_weights(record, model) -> None:
    """Load the kept weights of ``record`` into ``model`` after checking their sha256."""
    import hashlib

    import torch

    from .errors import RecordError

    if not record.weights:
        raise RecordError(f"{record.path}: no weights kept for this run (set eval.cam.keep_weights: true and rerun it)")
    path = Path(record.path).with_name(record.weights["file"])
    if not path.is_file():
        raise RecordError(f"{path}: the kept weights of {record.path} are missing")
    if hashlib.sha256(path.read_bytes()).hexdigest() != record.weights["sha256"]:
        raise RecordError(f"{path}: sha256 differs from the one its record stores; not the model that was scored")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def run_and_store(spec: RunSpec, data_root: str | None = None, plugins: list[str] | tuple[str, ...] = (),
                  on_epoch: Callable[[int, float], None] | None = None, threads: int | None = None) -> bool:
    """Execute ``spec`` and write its record atomically at ``spec.path`` (a requeued or duplicated
    job writes the same whole file again); True if the run succeeded. The entry point of pool
    workers and Slurm jobs, so it imports the plugins the suite named first."""
    from .plugins import discover_entry_points, load_plugins
    from .records import inside_folder, read_record, write_record

    path = Path(spec.path)
    inside_folder(path.parents[2], path)  # <records>/<data set>/<variant>/seedN.json: no link leads out
    if path.exists():  # a requeued or duplicated job whose run already finished: nothing to do
        try:
            done = read_record(path)
        except ValueError:
            done = None
        if done is not None and done.config_hash == spec.config_hash and done.status == "ok":
            return True
    discover_entry_points()
    load_plugins(list(plugins))
    record = execute_run(spec, data_root, on_epoch, threads)
    try:
        write_record(path, record)
    except OSError as exc:
        from .errors import RecordError

        raise RecordError(f"{path}: the record of {spec.name} could not be written ({exc.strerror or exc}); "
                          "free space or fix permissions, then run the suite again (finished runs are kept)") from None
    return record.status == "ok"
