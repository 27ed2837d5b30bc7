import pytest

from medattn_bench.attention import ATTENTION
from medattn_bench.cost import flop_counter_macs, static_cost
from medattn_bench.models import resnet18


def test_resnet18_baseline_is_182_gmacs_at_224():
    c = static_cost("none", image_size=224, num_classes=1000)
    assert c.params == 11_689_512
    assert c.macs / 1e9 == pytest.approx(1.82, rel=0.01)


@pytest.mark.parametrize("name", ATTENTION.names())
def test_no_operator_left_uncounted(name):
    c = static_cost(name, image_size=32)
    assert c.uncounted_ops == {}, f"{name}: fvcore cannot count {sorted(c.uncounted_ops)}; add a handler in cost.py"
    if name != "none":  # parameter-free blocks (SimAM, Gather-Excite) still cost MACs
        assert c.macs_attention > 0


def test_matmul_macs_agree_with_torch_flop_counter():
    for name in ("none", "se", "gc"):
        c = static_cost(name, image_size=64)
        mm = sum(c.macs_by_operator.get(k, 0) for k in ("conv", "linear", "bmm", "matmul", "einsum"))
        assert mm == flop_counter_macs(resnet18(name), 64)


def test_attention_elementwise_cost_is_counted():
    # Without element-wise handlers SE's gate multiply, sigmoid and mean would be invisible.
    base, se = static_cost("none", image_size=224), static_cost("se", image_size=224)
    gate_elems = 2 * (64 * 56 * 56 + 128 * 28 * 28 + 256 * 14 * 14 + 512 * 7 * 7)  # x * s per block
    assert se.macs_by_operator["elementwise"] - base.macs_by_operator["elementwise"] >= gate_elems
    assert se.macs_by_operator["reduction"] == gate_elems  # the squeeze (mean) reads every element


def test_ops_fvcore_ignores_by_default_are_counted():
    """relu, clamp and max are on fvcore's ignore list; a handle set with the public set_op_handle
    wins over that list. If a fvcore release changes the order, the ReLU outputs go uncounted."""
    import torch

    model = resnet18("none").eval()
    relu_out = []
    hooks = [m.register_forward_hook(lambda m, i, o: relu_out.append(o.numel()))
             for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    c = static_cost("none", image_size=64)
    assert sum(relu_out) > 0 and c.macs_by_operator["elementwise"] >= sum(relu_out)
    # the residual adds are the only other element-wise ops in the baseline
    assert c.macs_by_operator["elementwise"] < 2 * sum(relu_out)


# ------------------------------------------------------------------ throughput beside the baseline


def test_throughput_is_measured_interleaved_with_the_baseline():
    from medattn_bench.cost import measure_throughput
    from medattn_bench.engine import resolve_device

    dev = resolve_device("cpu", "fp32", False, None, 16, 8)
    t = measure_throughput("se", None, 16, 8, dev, repeats=3, warmup=0, baseline="none").to_dict()
    assert t["baseline"] == "none" and t["repeats"] == 3
    for key in ("train", "infer"):
        assert t[f"{key}_ratio_min"] <= t[f"{key}_ratio"] <= t[f"{key}_ratio_max"]
        assert t[f"baseline_{key}_img_s"] > 0
    assert t["load_avg"] is not None and t["isa"].startswith("ATen")
    alone = measure_throughput("se", None, 16, 8, dev, repeats=2, warmup=0).to_dict()
    assert alone["train_ratio"] is None and alone["baseline"] is None


def test_variants_are_timed_together_round_robin_with_one_baseline():
    """A suite's variants are timed in one loop with their baseline: every variant's ratio comes
    from the same baseline steps (so the baseline is timed once per round, not once per variant),
    and the baseline's own entry has ratio 1."""
    from medattn_bench.cost import INTERLEAVED, measure_beside_baseline
    from medattn_bench.engine import resolve_device

    dev = resolve_device("cpu", "fp32", False, None, 16, 8)
    out = [t.to_dict() for t in measure_beside_baseline([("se", None), ("none", None), ("gc", None)], ("none", None),
                                                         16, 8, dev, repeats=3, warmup=0)]
    assert len(out) == 3 and all(t["timer"] == INTERLEAVED and t["repeats"] == 3 for t in out)
    assert len({t["baseline_train_img_s"] for t in out}) == 1 and len({t["baseline_infer_img_s"] for t in out}) == 1
    se, none, gc = out
    assert none["train_ratio"] == none["train_ratio_min"] == none["train_ratio_max"] == 1.0
    assert none["train_img_s"] == none["baseline_train_img_s"]
    for t in (se, gc):
        for key in ("train", "infer"):
            assert 0 < t[f"{key}_ratio_min"] <= t[f"{key}_ratio"] <= t[f"{key}_ratio_max"]
    assert se["train_img_s"] != gc["train_img_s"]


def test_a_block_that_cannot_train_fails_alone_in_the_shared_timing_loop():
    """Variants are timed together; a block whose training step raises (its forward, and so its
    static cost, works) is marked unavailable on its own, the others keep their ratios."""
    from types import SimpleNamespace

    import torch
    from torch import nn

    from medattn_bench.attention import ATTENTION, register_attention
    from medattn_bench.executors.local import measure_costs
    from medattn_bench.suite import AttentionSpec, TrainSpec

    class _NoBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            raise RuntimeError("this gate cannot be trained")

    @register_attention("test_no_backward", paper="test only")
    def factory(channels: int) -> nn.Module:
        class Gate(nn.Module):
            def forward(self, x):
                return _NoBackward.apply(x)

        return Gate()

    try:
        train = TrainSpec(epochs=1, batch_size=4, image_size=16, lr=0.01, threads=1)
        names = ["none", "se", "test_no_backward"]
        todo = [SimpleNamespace(attention=AttentionSpec(name=n), train=train) for n in names]
        out = measure_costs(todo, 2, 0, True, 1, AttentionSpec(name="none"))
    finally:
        ATTENTION.unregister("test_no_backward")
    assert "cannot be trained" in out["test_no_backward"]["unavailable"]
    assert out["none"]["throughput"]["train_ratio"] == 1.0
    assert out["se"]["throughput"]["train_ratio"] > 0 and "static" in out["se"]


@pytest.fixture(scope="module")
def cost_records(checks_board):
    """The shared checks board (conftest): its suite file ``tiny.yaml`` and its ``records`` root
    side by side; its cost rows were measured after the runs (throughput: true)."""
    return checks_board.suite_file.parent


def _board(folder) -> str:
    from medattn_bench.leaderboard import render
    from medattn_bench.records import load_records, load_suite_infos

    recs, problems = load_records(folder)
    infos, _ = load_suite_infos(folder)
    return render(recs, infos, problems)


def _cost_rows(board: str) -> dict[str, str]:
    section = board.split("### Cost")[1].split("###")[0]
    # keyed by variant, the contention mark (†) dropped: this machine may itself be busy
    return {line.split("|")[1].strip().rstrip(" †"): line for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| Variant")}


@pytest.mark.slow
def test_board_shows_ratios_and_marks_a_contended_and_a_foreign_measurement(cost_records, tmp_path):
    import json
    import shutil

    recs = tmp_path / "records"
    shutil.copytree(cost_records / "records", recs)
    board = _board(recs)
    rows = _cost_rows(board)
    assert "1.00×" in rows["none"] and "×" in rows["se"] and "Measured on" not in board
    assert "interleaved with `none`" in board
    # the rows were measured after the runs, into suite.json, not into the records
    assert all("throughput" not in json.loads(p.read_text())["cost"] for p in (recs / "tiny").rglob("seed*.json"))
    # gc re-measured later on another machine while the cores were busy (a CPU name no machine has,
    # so that the row is foreign on every CPU kind this test runs on)
    info_path = recs / "tiny" / "suite.json"
    info = json.loads(info_path.read_text())
    info["costs"]["gc"]["throughput"].update(device_name="Elsewhere CPU 9000", isa="ATen AVX2, oneDNN avx2",
                                             load_avg=3.9, train_img_s=5.0, train_ratio=0.93, train_ratio_min=0.9,
                                             train_ratio_max=0.96)
    info_path.write_text(json.dumps(info))
    board = _board(recs)
    rows = _cost_rows(board)
    assert rows["gc"].count("Elsewhere CPU 9000 (ATen AVX2, oneDNN avx2") == 1 and "0.93×" in rows["gc"]
    assert "| gc †" in rows["gc"] and "Measured on" in board and "† measured on a busy machine" in board


@pytest.mark.slow
def test_recost_remeasures_every_row_together(cost_records, tmp_path, capsys):
    import shutil

    from tests.test_cli import run_main

    recs = tmp_path / "records"
    shutil.copytree(cost_records / "records", recs)
    code, out = run_main(capsys, "profile", "--recost", str(cost_records / "tiny.yaml"), "--records",
                         str(recs / "tiny"), "--repeats", "3")
    assert code == 0 and "wrote the cost rows of 4 variants" in out, out  # the A/A copy none_b too
    from medattn_bench.records import load_suite_infos

    infos, _ = load_suite_infos(recs)
    costs = infos["tiny"].costs
    assert set(costs) == {"none", "se", "gc", "none_b"} and costs["se"]["throughput"]["baseline"] == "none"
    assert costs["none"]["throughput"]["train_ratio"] == 1.0
    rows = _cost_rows(_board(recs))
    assert f"{costs['se']['throughput']['train_ratio']:.2f}×" in rows["se"]


@pytest.mark.slow
def test_recost_keeps_rows_it_did_not_remeasure_and_applies_the_runs_overrides(cost_records, tmp_path, capsys):
    """A variant added with --set when the suite ran is not in the suite file: recost re-applies the
    overrides suite.json recorded, and never drops a cost row it did not measure again."""
    import json
    import shutil

    from tests.test_cli import run_main

    from medattn_bench.records import load_suite_infos

    recs = tmp_path / "records"
    shutil.copytree(cost_records / "records", recs)
    code, out = run_main(capsys, "profile", "--recost", str(cost_records / "tiny.yaml"), "--records",
                         str(recs / "tiny"), "--repeats", "3")
    old_gc = load_suite_infos(recs)[0]["tiny"].costs["gc"]
    no_gc = tmp_path / "tiny.yaml"
    no_gc.write_text((cost_records / "tiny.yaml").read_text().replace(", {name: gc}", ""))
    code, out = run_main(capsys, "profile", "--recost", str(no_gc), "--records", str(recs / "tiny"), "--repeats", "3")
    assert code == 0 and "kept the earlier cost rows of gc" in out, out
    costs = load_suite_infos(recs)[0]["tiny"].costs
    assert set(costs) == {"none", "se", "gc", "none_b"} and costs["gc"] == old_gc
    info_path = recs / "tiny" / "suite.json"
    info = json.loads(info_path.read_text())
    info["overrides"] = ["attention+=[{name: gc}]"]  # as if gc had been added on the command line
    info_path.write_text(json.dumps(info))
    code, out = run_main(capsys, "profile", "--recost", str(no_gc), "--records", str(recs / "tiny"), "--repeats", "3")
    assert code == 0 and "with the overrides the suite was run with" in out and "kept" not in out, out
    costs = load_suite_infos(recs)[0]["tiny"].costs
    assert costs["gc"] != old_gc and costs["gc"]["throughput"]["baseline"] == "none"


def test_static_cost_is_remembered_per_factory_and_hands_out_copies():
    from torch import nn

    from medattn_bench.attention import register_attention

    first = static_cost("se", image_size=32)
    first.macs_by_operator.clear()  # the caller's copy, not the memo's
    assert static_cost("se", image_size=32).macs_by_operator
    try:
        register_attention("test_memo_gate")(lambda channels: nn.Identity())
        assert static_cost("test_memo_gate", image_size=32).params_attention == 0
        ATTENTION.unregister("test_memo_gate")

        @register_attention("test_memo_gate")
        def gate(channels: int) -> nn.Module:
            return nn.Conv2d(channels, channels, 1)

        again = static_cost("test_memo_gate", image_size=32)
        assert again.params_attention == sum(c * c + c for c in (64, 64, 128, 128, 256, 256, 512, 512))
    finally:
        ATTENTION.unregister("test_memo_gate")
