"""count(): analytic checks for linear, convolution and attention layers, backward measured per
gradient, per-module rows, the meta device and its CPU fall back, and that the model is untouched."""
import logging

import pytest
import torch
import torchvision
from torch import nn

from trainlab.errors import ConfigError, ModelError
from trainlab.profile import count, flops_per_sample, model_signature

DEVICES = ["meta", "cpu"]


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_backward_and_params(device, bias):
    batch, fan_in, fan_out = 6, 10, 7
    layer = nn.Linear(fan_in, fan_out, bias=bias)
    forward = 2 * batch * fan_in * fan_out  # bias adds are elementwise, not counted by default

    p = count(layer, torch.randn(batch, fan_in), device=device)
    assert (p.forward_flops, p.forward_macs) == (forward, forward // 2)
    assert p.backward_flops == forward  # only the weight gradient: the input needs none
    assert p.params == p.trainable_params == fan_in * fan_out + bias * fan_out
    assert p.device == device and p.batch_size == batch

    with_input_grad = count(layer, torch.randn(batch, fan_in, requires_grad=True), device=device)
    assert with_input_grad.backward_flops == 2 * forward


CONV_CASES = [  # (in, out, kernel, stride, padding, dilation, groups, bias)
    (3, 8, 3, 1, 1, 1, 1, True),
    (4, 6, 3, 2, 0, 1, 2, False),
    (4, 8, 5, 1, 2, 2, 4, True),
    (8, 8, 3, 2, 1, 1, 8, True),  # depthwise
    (6, 4, 1, 1, 0, 1, 1, False),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cin,cout,k,stride,pad,dil,groups,bias", CONV_CASES)
def test_conv2d_matches_hand_count(device, cin, cout, k, stride, pad, dil, groups, bias):
    batch, height, width = 2, 11, 9
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dil, groups=groups, bias=bias)
    h_out, w_out = conv_out(height, k, stride, pad, dil), conv_out(width, k, stride, pad, dil)
    macs = batch * cout * h_out * w_out * (cin // groups) * k * k

    x = torch.randn(batch, cin, height, width, requires_grad=True)
    p = count(conv, x, device=device)
    assert p.forward_macs == macs
    assert p.forward_flops == 2 * macs
    # conv/linear backward = input gradient + weight gradient, each one forward's worth, also
    # for grouped convolutions (torch's own formula overcounts those by the number of groups).
    assert p.backward_flops == 4 * macs
    assert p.by_module[0].output_shapes == ((batch, cout, h_out, w_out),)

    elementwise = count(conv, x, device=device, include_elementwise=True)
    bias_adds = batch * cout * h_out * w_out if bias else 0
    assert elementwise.forward_flops == 2 * macs + bias_adds
    assert elementwise.forward_dense_flops == 2 * macs


@pytest.mark.parametrize("device", DEVICES)
def test_transposed_conv_counts_input_positions(device):
    conv = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, bias=False)
    x = torch.randn(3, 4, 5, 5)
    p = count(conv, x, device=device)
    # every input element meets every weight of its group once: B*H*W*Cin*(Cout/groups)*k*k
    assert p.forward_macs == 3 * 5 * 5 * 4 * (6 // 2) * 3 * 3
    assert p.backward_flops == p.forward_flops


@pytest.mark.parametrize("device", DEVICES)
def test_mlp_backward_is_twice_forward_except_first_input_gradient(device):
    net = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 3))
    p = count(net, torch.randn(5, 12), device=device)
    first = 2 * 5 * 12 * 32
    assert p.forward_flops == 2 * 5 * (12 * 32 + 32 * 16 + 16 * 3)
    assert p.backward_flops == 2 * p.forward_flops - first
    assert [r.forward_flops for r in p.by_module[1:]] == [first, 0, 2 * 5 * 32 * 16, 0, 2 * 5 * 16 * 3]
    assert p.module("0").backward_flops == first
    assert p.module("2").backward_flops == 2 * p.module("2").forward_flops


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x: torch.Tensor, need_weights: bool) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=need_weights)[0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("need_weights", [True, False])  # False takes the fused SDPA kernel on CPU
def test_multihead_attention_matches_hand_count(device, need_weights):
    batch, length, dim, heads = 2, 7, 12, 3
    model = SelfAttention(dim, heads)
    x = torch.randn(batch, length, dim)
    projections = 4 * 2 * batch * length * dim * dim  # q, k, v and output projections
    scores_and_mix = 2 * (2 * batch * heads * length * length * (dim // heads))  # QK^T and PV
    p = count(model, (x, need_weights), device=device)
    assert p.forward_flops == projections + scores_and_mix
    # backward: weight grads of the 4 projections, an input grad for the output projection only (x
    # needs none), and both gradients of each attention matmul
    assert p.backward_flops == 2 * scores_and_mix + projections + 2 * batch * length * dim * dim
    assert p.notes == ()


def test_resnet50_forward_cost_is_the_published_4_1_gmacs():
    model = torchvision.models.resnet50(weights=None)
    p = count(model, torch.zeros(1, 3, 224, 224))
    assert 4.05e9 < p.forward_macs < 4.15e9  # torchvision reports 4.09 GFLOPS (MACs), ptflops 4.12
    assert p.params == 25_557_032
    # backward: input + weight gradient per conv/linear, minus the first conv's input gradient
    first_conv = p.module("conv1").forward_flops
    assert p.backward_flops == 2 * p.forward_flops - first_conv
    assert p.module("layer1").forward_flops == sum(
        p.module(f"layer1.{i}").forward_flops for i in range(3)
    )


@pytest.mark.parametrize("device", DEVICES)
def test_by_module_rows_hold_names_types_shapes_params_and_nest(device):
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Sequential(nn.Linear(4 * 6 * 6, 5)))
    p = count(net, torch.zeros(2, 1, 8, 8), device=device)
    assert [(r.name, r.type, r.depth) for r in p.by_module] == [
        ("", "Sequential", 0), ("0", "Conv2d", 1), ("1", "Flatten", 1), ("2", "Sequential", 1),
        ("2.0", "Linear", 2),
    ]
    assert p.module("0").input_shapes == ((2, 1, 8, 8),)
    assert p.module("2.0").output_shapes == ((2, 5),)
    assert p.module("2").params == 144 * 5 + 5
    assert p.module("").forward_flops == p.forward_flops == p.module("0").forward_flops + p.module(
        "2").forward_flops
    assert all(r.calls == 1 for r in p.by_module)
    with pytest.raises(KeyError, match="no module named 'nope'"):
        p.module("nope")


def test_backward_is_charged_to_the_right_branch_when_inputs_need_no_grad():
    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Sequential(nn.Linear(3, 8), nn.Linear(8, 2))
            self.b = nn.Sequential(nn.Linear(3, 16), nn.Linear(16, 2))

        def forward(self, x):
            return self.a(x) + self.b(x)

    p = count(Branches(), torch.zeros(4, 3))
    # first layers: weight gradient only; second layers: weight and input gradients
    assert [p.module(n).backward_flops for n in ("a.0", "a.1", "b.0", "b.1")] == [
        2 * 4 * 3 * 8, 2 * 2 * 4 * 8 * 2, 2 * 4 * 3 * 16, 2 * 2 * 4 * 16 * 2]
    assert p.module("a").backward_flops + p.module("b").backward_flops == p.backward_flops


def test_leaf_modules_add_up_to_the_total_in_a_resnet():
    model = torchvision.models.resnet18(weights=None)
    p = count(model, torch.zeros(2, 3, 64, 64))
    leaves = [r for r in p.by_module if not any(r2.name.startswith(r.name + ".") for r2 in p.by_module)
              and r.name]
    assert sum(r.forward_flops for r in leaves) == p.forward_flops
    assert sum(r.backward_flops for r in leaves) == p.backward_flops


def test_shared_module_counts_every_call():
    shared = nn.Linear(4, 4)

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = shared

        def forward(self, x):
            return self.block(self.block(x))

    p = count(Twice(), torch.zeros(3, 4))
    assert p.module("block").calls == 2
    assert p.module("block").forward_flops == 2 * (2 * 3 * 4 * 4)
    assert p.params == 20


def test_model_is_left_untouched():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten(),
                        nn.Linear(4 * 6 * 6, 2))
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(4, 3, 8, 8)
    rng = torch.get_rng_state()
    count(net, x, device="cpu")
    count(net, x, device="meta")
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN stats too
    assert torch.equal(rng, torch.get_rng_state())
    assert net.training and all(p.device.type == "cpu" for p in net.parameters())


def test_meta_failure_falls_back_to_cpu_and_says_so(caplog):
    class DataDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x)
            return y[y > 0].sum() + y.mean()  # boolean indexing has no meta kernel

    with caplog.at_level(logging.WARNING, logger="trainlab.profile"):
        p = count(DataDependent(), torch.randn(3, 4))
    assert p.device == "cpu"
    assert p.forward_flops == 2 * 3 * 4 * 4
    assert any("meta device failed" in note for note in p.notes)
    assert "counting on cpu instead" in caplog.text


def test_wrong_input_shape_is_a_model_error_naming_the_shapes():
    with pytest.raises(ModelError, match=r"Linear failed on the example input.*\(2, 5\)"):
        count(nn.Linear(3, 4), torch.zeros(2, 5))


def test_bad_arguments_raise_trainlab_errors():
    with pytest.raises(ModelError, match="needs a torch.nn.Module"):
        count(lambda x: x, torch.zeros(1))
    with pytest.raises(ConfigError, match="use one of meta, cpu, cuda"):
        count(nn.Linear(2, 2), torch.zeros(1, 2), device="tpu")
    with pytest.raises(ConfigError, match="batch_size must be a positive"):
        count(nn.Linear(2, 2), torch.zeros(1, 2), batch_size=0)
    with pytest.raises(ModelError, match="uninitialized"):
        count(nn.LazyLinear(3), torch.zeros(1, 2))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            count(nn.Linear(2, 2), torch.zeros(1, 2), device="cuda")


def test_inputs_as_kwargs_and_custom_loss():
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(5, 2)

        def forward(self, x, y):
            return {"logits": self.a(x) + self.b(y)}

    model = TwoInputs()
    p = count(model, {"x": torch.zeros(4, 3), "y": torch.zeros(4, 5)},
              loss_fn=lambda out: out["logits"].pow(2).mean())
    assert p.forward_flops == 2 * 4 * 2 * (3 + 5)
    assert p.backward_flops == p.forward_flops  # weight gradients only
    assert p.batch_size == 4


def test_forward_only_and_frozen_models():
    net = nn.Linear(6, 3)
    assert count(net, torch.zeros(2, 6), backward=False).backward_flops == 0
    frozen = count(nn.Linear(6, 3).requires_grad_(False), torch.zeros(2, 6))
    assert frozen.backward_flops == 0 and not frozen.backward and frozen.trainable_params == 0
    assert any("backward not counted" in n for n in frozen.notes)


def test_flops_per_sample_is_training_cost_divided_by_batch():
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    forward = 2 * (8 * 16 + 16 * 4)
    backward = 2 * forward - 2 * 8 * 16
    assert flops_per_sample(net, torch.zeros(10, 8)) == forward + backward
    assert flops_per_sample(net, torch.zeros(3, 8)) == forward + backward
    # sequence-first input: the batch is not the first dimension, so it is passed
    rnn = nn.GRU(4, 4)
    per_sample = flops_per_sample(rnn, torch.zeros(6, 2, 4), batch_size=2)
    assert per_sample * 2 == count(rnn, torch.zeros(6, 2, 4)).total_flops


def test_model_signature_changes_with_shape_not_values():
    a = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    b = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    wider = nn.Sequential(nn.Linear(4, 9), nn.Linear(9, 2))
    deeper = nn.Sequential(nn.Linear(4, 8), nn.Identity(), nn.Linear(8, 2))
    assert model_signature(a) == model_signature(b)
    assert model_signature(a) != model_signature(wider)
    assert model_signature(a) != model_signature(deeper)


@pytest.mark.slow
@pytest.mark.parametrize("include_elementwise", [False, True])
def test_resnet50_counts_the_same_on_cpu_and_meta(include_elementwise):
    model = torchvision.models.resnet50(weights=None)
    x = torch.randn(2, 3, 224, 224)
    meta = count(model, x, device="meta", include_elementwise=include_elementwise)
    cpu = count(model, x, device="cpu", include_elementwise=include_elementwise)
    assert [(r.forward_flops, r.backward_flops) for r in meta.by_module] == [
        (r.forward_flops, r.backward_flops) for r in cpu.by_module]
    assert meta.forward_macs == 2 * 4_089_184_256


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make", [
    lambda: SelfAttention(12, 4),  # the fast path needs an even number of heads
    lambda: nn.TransformerEncoderLayer(12, 4, dim_feedforward=16, batch_first=True),
], ids=["MultiheadAttention", "TransformerEncoderLayer"])
def test_attention_fast_path_in_eval_without_grad_is_counted(device, make):
    # eval + no_grad on CPU/CUDA takes a fused op (aten._native_multi_head_attention) that has
    # no formula: the count must not depend on it
    model = make().eval()
    x = torch.randn(2, 7, 12)
    args = (x, False) if isinstance(model, SelfAttention) else x
    meta = count(model, args, backward=False, device="meta")
    p = count(model, args, backward=False, device=device)
    assert p.forward_flops == meta.forward_flops > 4 * 2 * 2 * 7 * 12 * 12
    assert p.notes == ()
    assert torch.backends.mha.get_fastpath_enabled()  # the switch is restored


def test_vit_b_32_forward_cost_is_the_published_4_41_gmacs_on_cpu():
    model = torchvision.models.vit_b_32(weights=None).eval()
    p = count(model, torch.zeros(1, 3, 224, 224), backward=False, device="cpu")
    assert 4.40e9 < p.forward_macs < 4.42e9  # torchvision's table: 4.41 GFLOPS (MACs)
