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
