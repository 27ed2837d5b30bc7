"""Grad-CAM and localisation: a CAM lands where the model looks, scores equal hand computation,
the figure has the study's grid, and kept weights reload to the very model the record scores."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.cam import cam_maps, localisation
from medattn_bench.errors import RecordError
from medattn_bench.execute import load_weights
from medattn_bench.models import resnet18
from medattn_bench.records import load_records


class SquareDetector(nn.Module):
    """Its last stage responds to bright pixels only, and class 1's logit to that response: the
    evidence for class 1 is the bright square and nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.layer4 = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.ones_(self.layer4.weight)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(torch.relu(self.layer4(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_cam_lands_in_the_known_square(method):
    x = torch.rand(3, 1, 24, 24) * 0.005  # faint background: about 4 % of the CAM mass
    mask = np.zeros((3, 24, 24), bool)
    for i, (r, c) in enumerate([(2, 3), (10, 14), (16, 5)]):
        x[i, :, r : r + 6, c : c + 6] = 1.0
        mask[i, r : r + 6, c : c + 6] = True
    cams = cam_maps(SquareDetector(), x, 1, method).detach().numpy()
    assert cams.shape == (3, 24, 24) and (cams >= 0).all()
    scores = localisation(cams, mask, top_k=36 / 576)
    assert (scores["pointing"] == 1).all()
    assert (scores["energy"] > 0.9).all() and (scores["iou"] > 0.8).all()


def test_localisation_scores_hand_computed():
    cam = np.zeros((2, 4, 4))
    cam[0] = [[4, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]  # total 8, max at (0, 0)
    mask = np.zeros((2, 4, 4), bool)
    mask[0, 2:, 2:] = True  # 4 pixels
    mask[1, 0, 0] = True
    s = localisation(cam, mask, top_k=0.25)  # top 4 pixels: (0,0) then the first 3 ones in row order
    # energy = 4 / 8; the maximum (0, 0) is outside the mask; top-4 = {(0,0), (2,2), (2,3), (3,2)}:
    # intersection 3, union 5 -> IoU 0.6. Image 2: an all-zero CAM has no energy share and no hit.
    assert s["energy"][0] == pytest.approx(0.5) and s["pointing"][0] == 0 and s["iou"][0] == pytest.approx(0.6)
    assert np.isnan(s["energy"][1]) and s["pointing"][1] == 0
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        localisation(cam[0], mask[0])


TINY = """\
name: camtiny
datasets: [{name: phantom_ct, options: {n_per_class: 24, size: 16}}]
attention: [{name: none}, {name: se}]
seeds: [0, 1]
train: {epochs: 2, batch_size: 8, image_size: 16, lr: 0.01}
eval: {stats: {n_resamples: 200}, cost: {throughput: false}, cam: {keep_weights: true}}
"""


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cam")
    (tmp / "camtiny.yaml").write_text(TINY)
    result = CliRunner().invoke(cli.app, ["run", str(tmp / "camtiny.yaml"), "--records", str(tmp / "rec"), "--no-progress"])
    assert result.exit_code == 0, result.output
    return tmp


@pytest.mark.slow
def test_kept_weights_reload_to_identical_test_scores(kept):
    recs, _ = load_records(kept / "rec")
    rec = next(r for r in recs if r.run.variant == "se" and r.run.seed == 1)
    assert rec.weights and len(rec.weights["sha256"]) == 64 and rec.explain["n_images"] > 0
    assert len(rec.explain["energy"]) == rec.explain["n_images"] == len(rec.explain["ids"])
    from medattn_bench.execute import dataset_for, split_indices
    from medattn_bench.suite import DatasetSpec, SplitSpec
    from medattn_bench.engine.device import DeviceInfo
    from medattn_bench.engine.train import _Batcher, predict, prepare_images

    data = dataset_for(DatasetSpec(name="phantom_ct", options={"n_per_class": 24, "size": 16}), None)
    train_idx, test_idx = split_indices(data, "phantom_ct", SplitSpec(), 1)
    model = resnet18("se")
    load_weights(rec, model)
    d = rec.env["device"]
    dev = DeviceInfo("cpu", "", d["dtype"], d["channels_last"], d["threads"], torch.__version__)
    scores = predict(model, _Batcher(prepare_images(data.images, 16), train_idx, dev), test_idx, dev, 256)
    assert scores.tolist() == rec.test.scores


@pytest.mark.slow
def test_tampered_weights_are_refused(kept, tmp_path):
    recs, _ = load_records(kept / "rec")
    rec = recs[0]
    copy = tmp_path / Path(rec.path).name
    copy.write_text(Path(rec.path).read_text())
    pt = Path(rec.path).with_name(rec.weights["file"])
    data = bytearray(pt.read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / rec.weights["file"]).write_bytes(bytes(data))
    rec.path = str(copy)
    with pytest.raises(RecordError, match="sha256 differs"):
        load_weights(rec, resnet18(rec.run.attention))


@pytest.mark.slow
def test_cam_command_writes_the_study_grid(kept, tmp_path):
    result = CliRunner().invoke(cli.app, ["cam", str(kept / "camtiny.yaml"), "--dataset", "phantom_ct", "--seed", "1",
                                          "--n", "4", "--records", str(kept / "rec"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    # the same weights on a batch of 4 instead of the test batches: oneDNN may pick another kernel for
    # another batch size (it does on AVX-512 / AMX Xeons), so equal to float rounding, not bit for bit
    worst = float(re.search(r"largest difference ([0-9.e+-]+)\)", result.output).group(1))
    assert worst < 1e-5, result.output
    png = tmp_path / "camtiny-phantom_ct-cam.png"
    assert png.is_file() and (tmp_path / "camtiny-phantom_ct-cam.pdf").is_file()
    # figsize (1.6 * columns + 0.8, 1.6 * rows + 0.6) inches at 130 dpi: 4 images, 2 variants
    assert Image.open(png).size == (round((1.6 * 4 + 0.8) * 130), round((1.6 * 2 + 0.6) * 130))
    assert "(1x1 maps on layer4)" in result.output  # 16 px: layer4's stride is 32
    # a layer that gives a map with something to show: layer2 is 2x2 at 16 px
    other = CliRunner().invoke(cli.app, ["cam", str(kept / "camtiny.yaml"), "--dataset", "phantom_ct", "--seed", "1",
                                         "--n", "4", "--records", str(kept / "rec"), "--out", str(tmp_path), "--layer", "layer2"])
    assert other.exit_code == 0 and "(2x2 maps on layer2)" in other.output, other.output
    bad = CliRunner().invoke(cli.app, ["cam", str(kept / "camtiny.yaml"), "--dataset", "phantom_mri",
                                       "--records", str(kept / "rec"), "--out", str(tmp_path)])
    assert bad.exit_code != 0
    wrong = CliRunner().invoke(cli.app, ["cam", str(kept / "camtiny.yaml"), "--dataset", "phantom_ct", "--seed", "1",
                                         "--records", str(kept / "rec"), "--out", str(tmp_path), "--layer", "fc"])
    assert wrong.exit_code == 2 and "--layer 'fc': expected layer1" in wrong.output and "Traceback" not in wrong.output


@pytest.mark.slow
def test_board_shows_localisation(kept, tmp_path):
    result = CliRunner().invoke(cli.app, ["leaderboard", str(kept / "rec"), "--out", str(tmp_path / "b.md")])
    assert result.exit_code == 0, result.output
    board = (tmp_path / "b.md").read_text()
    assert "Energy in mask %" in board and "ΔEnergy vs none" in board and "| se " in board


def test_cam_figure_outlines_the_lesion_where_there_is_a_mask(tmp_path):
    """Where a column has a lesion mask its outline is drawn over the heat map (cyan), and nowhere
    without masks."""
    from medattn_bench.figures import cam_figure

    rng = np.random.default_rng(0)
    img, cam = rng.random((32, 32)), rng.random((32, 32))
    mask = np.zeros((32, 32), bool)
    mask[8:20, 10:22] = True
    rows = [("none", [(img, cam, 0.9), (img, cam, 0.1)])]

    def cyan(path: Path) -> int:
        px = np.asarray(Image.open(path).convert("RGB")).astype(int)
        return int(((px[..., 0] < 60) & (px[..., 1] > 200) & (px[..., 2] > 200)).sum())

    with_mask = cam_figure(rows, ["a", "b"], tmp_path / "m", "t", [mask, None])[0]
    without = cam_figure(rows, ["a", "b"], tmp_path / "n", "t", None)[0]
    assert cyan(with_mask) > 50 and cyan(without) == 0


def test_cam_figure_marks_a_map_with_no_positive_evidence(tmp_path):
    """Grad-CAM zero everywhere (no evidence for the true class) gets no overlay, which a uniform
    dark tint would fake as "cold everywhere", and says so in the cell's label."""
    from medattn_bench.figures import cam_figure, cell_label

    grey = np.full((32, 32, 3), 0.5)
    zero, warm = np.zeros((32, 32)), np.random.default_rng(0).random((32, 32))
    assert cell_label(0.21, zero) == "0.21 · CAM 0" and cell_label(0.21, warm) == "0.21"

    def plain_grey(path: Path) -> int:
        px = np.asarray(Image.open(path).convert("RGB")).astype(int)
        return int(((abs(px - 128) <= 3).all(axis=-1)).sum())

    blank = cam_figure([("none", [(grey, zero, 0.2)])], ["a"], tmp_path / "z", "t")[0]
    tinted = cam_figure([("none", [(grey, warm, 0.2)])], ["a"], tmp_path / "w", "t")[0]
    assert plain_grey(blank) > 10_000 and plain_grey(tinted) < 100
