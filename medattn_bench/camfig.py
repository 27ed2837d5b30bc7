"""``medattn-bench cam``: the study's Grad-CAM figure from the kept weights of a suite's runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .errors import MedattnError, RecordError
from .execute import RunSpec, dataset_for, load_weights, split_indices
from .records import read_record


def pick_images(ids: list[str], labels: np.ndarray, test_idx: np.ndarray, n: int) -> list[int]:
    """``n`` test images, half per class (the positives first), in a fixed pseudo-random order:
    by the sha1 of their ids, so the choice depends on nothing but the split."""
    order = sorted((int(i) for i in test_idx), key=lambda i: hashlib.sha1(ids[i].encode()).hexdigest())
    pos = [i for i in order if labels[i] == 1][: (n + 1) // 2]
    neg = [i for i in order if labels[i] == 0][: n - len(pos)]
    return pos + neg


def _short(name: str, width: int = 22) -> str:
    """A file name that fits a panel's title: its tail, where the name says most."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def cam_figure_for(runs: list[RunSpec], data_root: str | None, n: int, method: str, out: Path,
                   suite_name: str, layer: str = "layer4", note: str = "") -> tuple[list[Path], float, str]:
    """Grad-CAM figure of ``runs`` (one per variant, same data set and split); returns the files,
    the largest difference between a reloaded model's score and its record's (a check that the
    figure shows the model the record scores) and the map's size at ``layer`` (e.g. "4x4")."""
    import torch

    from .cam import cam_maps
    from .engine.device import DeviceInfo
    from .engine.train import _Batcher, autocast, prepare_images
    from .figures import cam_figure
    from .models import resnet18

    first = runs[0]
    data = dataset_for(first.dataset, data_root)
    train_idx, test_idx = split_indices(data, first.dataset.name, first.split, first.seed)
    size = first.train.image_size
    images = prepare_images(data.images, size)
    chosen = pick_images(data.ids, data.labels, test_idx, n)
    titles = [f"{data.classes[data.labels[i]]}\n{_short(data.ids[i].split('/')[-1])}" for i in chosen]
    shown = images[torch.as_tensor(chosen)].permute(0, 2, 3, 1).numpy()
    shown = shown[..., 0] if data.images.shape[1] == 1 else shown
    masks = None
    if data.masks is not None:  # the lesion outlines, at the size the model saw
        m = torch.nn.functional.interpolate(data.masks[torch.as_tensor(chosen)][:, None].float(), size=(size, size),
                                            mode="nearest")[:, 0]
        masks = [x.numpy() > 0.5 for x in m]
    rows, worst, map_size = [], 0.0, None
    for spec in runs:
        rec = read_record(Path(spec.path))
        if not rec.ok:
            raise RecordError(f"{spec.path}: run {spec.name} did not succeed; no heat map to show")
        model = resnet18(spec.attention.name, spec.attention.hparams)
        load_weights(rec, model)
        model.eval()
        # the run's own precision and memory format: bf16 results depend on both
        d = rec.env["device"]
        dev = DeviceInfo("cpu", "", d["dtype"], d["channels_last"], torch.get_num_threads(), torch.__version__)
        batcher = _Batcher(images, train_idx, dev)
        if dev.channels_last:
            model = model.to(memory_format=torch.channels_last)
        x = batcher.batch(torch.as_tensor(chosen), None, None)
        with torch.inference_mode(), autocast(dev):
            p1 = torch.softmax(model(x).float(), dim=1)[:, 1].double().numpy()
        stored = dict(zip(rec.test.ids, rec.test.scores))
        rec_p1 = np.array([stored[data.ids[i]] for i in chosen])
        worst = max(worst, float(np.abs(p1 - rec_p1).max()))
        target = torch.as_tensor(data.labels[chosen])
        seen: list = []
        hook = getattr(model, layer).register_forward_hook(lambda mod, inp, out: seen.append(tuple(out.shape[-2:])))
        maps = cam_maps(model, x.float(), target, method, getattr(model, layer)).detach().numpy()
        hook.remove()
        map_size = seen[0] if seen else map_size
        prob_true = np.where(data.labels[chosen] == 1, rec_p1, 1 - rec_p1)
        rows.append((spec.attention.key, list(zip(shown, maps, prob_true.tolist()))))
    grid = f" ({map_size[0]}x{map_size[1]} map at {size} px, upsampled)" if map_size else ""
    title = (f"{suite_name}, {first.dataset.name}, split seed {first.seed}: {method} on {layer}{grid}; "
             "number = P(true class) from the run record" + (f"\n{note}" if note else ""))
    files = cam_figure(rows, titles, out / f"{suite_name}-{first.dataset.name}-cam", title, masks)
    return files, worst, f"{map_size[0]}x{map_size[1]}" if map_size else "?"


def select_runs(runs: list[RunSpec], dataset: str, seed: int) -> list[RunSpec]:
    chosen = [r for r in runs if r.dataset.name == dataset and r.seed == seed and r.init_seed == 0]
    if not chosen:
        have = sorted({r.dataset.name for r in runs})
        raise MedattnError(f"--dataset {dataset!r} --seed {seed}: no such run in the suite; data sets: {', '.join(have)}")
    return chosen
