"""The small-map weight gradient: the same gradients as the stock convolution, taken only where
it applies, and invisible to state dicts, tracing and autocast."""

import pytest
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from torch import nn

from medattn_bench.models import resnet18
from medattn_bench.models.smallmap import MAX_POSITIONS, SmallMapConv2d, _SmallMapConv2d, use_small_map_conv


def _grads(conv: nn.Conv2d, x: torch.Tensor, g: torch.Tensor) -> tuple:
    x = x.detach().clone().requires_grad_()
    conv.zero_grad(set_to_none=True)
    y = conv(x)
    y.backward(g)
    return y.detach(), x.grad, conv.weight.grad, None if conv.bias is None else conv.bias.grad


# (in, out, kernel, stride, padding, dilation, bias, input side): all with output maps of <= 2x2
CASES = [
    (512, 512, 3, 1, 1, 1, False, 1),  # ResNet-18 layer4 at 32 px
    (256, 512, 3, 2, 1, 1, False, 2),  # its stride-2 entry
    (256, 512, 1, 2, 0, 1, False, 2),  # the 1x1 downsample
    (256, 256, 3, 1, 1, 1, False, 2),  # layer3 at 32 px: a 2x2 map
    (2, 1, 7, 1, 3, 1, True, 1),  # CBAM's spatial conv on a 1x1 map, with bias
    (16, 8, 3, 1, 2, 2, True, 2),  # dilation
]


@pytest.mark.parametrize("cin,cout,k,s,p,d,bias,side", CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_gradients_match_the_stock_convolution(cin, cout, k, s, p, d, bias, side, channels_last):
    torch.manual_seed(0)
    stock = nn.Conv2d(cin, cout, k, s, p, d, bias=bias)
    fast = nn.Conv2d(cin, cout, k, s, p, d, bias=bias)
    fast.load_state_dict(stock.state_dict())
    use_small_map_conv(fast)
    assert type(fast) is SmallMapConv2d
    x = torch.randn(8, cin, side, side)
    if channels_last:
        stock, fast = stock.to(memory_format=torch.channels_last), fast.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    assert fast._fast(x.requires_grad_())
    g = torch.randn_like(stock(x))
    for a, b in zip(_grads(stock, x, g), _grads(fast, x, g)):
        if a is None:
            assert b is None
        else:
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_gradcheck_in_double():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 2, 2, dtype=torch.double, requires_grad=True)
    w = torch.randn(5, 4, 3, 3, dtype=torch.double, requires_grad=True)
    b = torch.randn(5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: _SmallMapConv2d.apply(x, w, b, (1, 1), (1, 1), (1, 1)), (x, w, b))


def test_taken_only_on_tiny_maps_with_gradients_in_fp32():
    conv = use_small_map_conv(nn.Conv2d(8, 8, 3, 1, 1))
    small, large = torch.randn(2, 8, 2, 2), torch.randn(2, 8, 4, 4)
    assert 2 * 2 <= MAX_POSITIONS < 4 * 4
    assert conv._fast(small)
    assert not conv._fast(large)
    with torch.no_grad():
        assert not conv._fast(small)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not conv._fast(small)
    assert not conv._fast(small.double())
    conv.weight.requires_grad_(False)
    assert not conv._fast(small)


def test_only_plain_convolutions_switch():
    class Own(nn.Conv2d):
        pass

    m = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=2),
                      nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), nn.Conv2d(4, 4, 3, padding="same"),
                      Own(4, 4, 1))
    use_small_map_conv(m)
    assert [type(c).__name__ for c in m] == ["SmallMapConv2d", "Conv2d", "Conv2d", "Conv2d", "Own"]


def test_the_model_keeps_its_state_dict_and_its_traced_graph():
    torch.manual_seed(0)
    model = resnet18("cbam")
    assert any(type(m) is SmallMapConv2d for m in model.modules())
    stock = resnet18("cbam")  # a stock copy: every SmallMapConv2d back to nn.Conv2d
    for m in stock.modules():
        if type(m) is SmallMapConv2d:
            m.__class__ = nn.Conv2d
    stock.load_state_dict(model.state_dict())
    assert list(stock.state_dict()) == list(model.state_dict())
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    model.train(), stock.train()
    flops = [FlopCountAnalysis(m, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False).total()
             for m in (model, stock)]
    assert flops[0] == flops[1]  # fvcore's trace sees the stock convolutions, not a Python op
    y = F.cross_entropy(model(x), torch.tensor([0, 1, 0, 1]))
    y.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    y2 = F.cross_entropy(stock(x), torch.tensor([0, 1, 0, 1]))
    y2.backward()
    for n, p in stock.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, rtol=1e-4, atol=1e-5, msg=n)
