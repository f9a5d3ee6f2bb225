"""Dense formulas torch lacks or gets wrong: grouped-convolution backward, fused CPU attention."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from trainlab.profile import count
from trainlab.profile.dense_formulas import conv_backward_flops


@pytest.mark.parametrize("groups", [1, 2, 8])
def test_grouped_conv_backward_costs_one_forward_per_gradient(groups):
    conv = nn.Conv2d(8, 16, 3, groups=groups, bias=False)
    x = torch.randn(2, 8, 9, 9, requires_grad=True)
    forward_macs = 2 * 16 * 7 * 7 * (8 // groups) * 9
    p = count(conv, x)
    assert p.forward_macs == forward_macs
    assert p.backward_macs == 2 * forward_macs
    # the defect being fixed: torch's own formula scales the weight gradient by the groups
    with FlopCounterMode(display=False) as torch_counter:
        conv(x).sum().backward()
    forward = 2 * forward_macs
    assert torch_counter.get_total_flops() == forward + forward * (1 + groups)


def test_conv_backward_formula_respects_the_output_mask():
    g, x, w = torch.zeros(1, 4, 6, 6), torch.zeros(1, 4, 8, 8), torch.zeros(4, 2, 3, 3)
    one = 2 * 4 * 6 * 6 * 2 * 9
    args = (g, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 2)
    assert conv_backward_flops(*args, [True, True, True]) == 2 * one
    assert conv_backward_flops(*args, [False, True, True]) == one
    assert conv_backward_flops(*args, [False, False, True]) == 0


class Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("include_elementwise", [False, True])
def test_cpu_fused_attention_counts_like_the_math_path(include_elementwise):
    q, k, v = (torch.randn(2, 3, 6, 8, requires_grad=True) for _ in range(3))
    cpu = count(Attention(), (q, k, v), device="cpu", include_elementwise=include_elementwise)
    meta = count(Attention(), (q, k, v), device="meta", include_elementwise=include_elementwise)
    matmuls = 2 * (2 * 2 * 3 * 6 * 6 * 8)
    assert cpu.forward_dense_flops == meta.forward_dense_flops == matmuls
    assert cpu.backward_dense_flops == meta.backward_dense_flops == 2 * matmuls
    assert (cpu.forward_flops, cpu.backward_flops) == (meta.forward_flops, meta.backward_flops)
    # the fused kernel really ran on CPU (torch alone would count it 0), the math path on meta
    assert cpu.by_op["aten._scaled_dot_product_flash_attention_for_cpu"][0] > 0
    assert "aten.bmm" in meta.by_op
