"""deepen: identity insertions in stages and after layers, their checks and their errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from trainlab.errors import ConfigError, UnknownNameError, UnsupportedLayerError
from trainlab.morph import ResidualBlock, deepen, widen


def build(kit, name: str) -> nn.Module:
    return kit.randomize_norms(getattr(kit, name)()).eval()


@pytest.mark.parametrize("method", ["r2r", "net2net"])
def test_mlp_deepened_after_a_relu(kit, method):
    model = build(kit, "MLP")
    deep = deepen(model, torch.randn(4, 6), where=["net.2"], method=method)
    assert len(deep.net) == len(model.net) + 1
    new = deep.net[3]
    assert isinstance(new, ResidualBlock if method == "r2r" else nn.Sequential)
    assert kit.max_delta(model, deep, (5, 6)) < 1e-5


@pytest.mark.parametrize("method", ["r2r", "net2net"])
def test_residual_stages_deepened(kit, method):
    model = build(kit, "TinyResNet")
    deep = deepen(model, torch.randn(2, 3, 12, 12), where=["stage1", "stage2"], method=method)
    assert len(deep.stage1) == 3 and len(deep.stage2) == 3
    if method == "r2r":  # the last block of each stage is copied and zeroed
        assert isinstance(deep.stage2[2], kit.Block)
        assert torch.count_nonzero(deep.stage2[2].conv1.weight) > 0
    assert kit.max_delta(model, deep, (3, 3, 12, 12)) < 1e-5


def test_r2r_block_rows_are_duplicated_and_last_columns_cancel(kit):
    model = build(kit, "TinyResNet")
    deep = deepen(model, torch.randn(2, 3, 12, 12), where=["stage1"])
    block = deep.stage1[2]
    w1, w2 = block.conv1.weight, block.conv2.weight  # (8, 8, 3, 3)
    assert torch.equal(w1[:4], w1[4:])
    assert torch.equal(w2[:, :4], -w2[:, 4:])
    assert torch.equal(block.bn2.running_mean, torch.zeros(8)) and torch.equal(block.bn2.bias, torch.zeros(8))


def test_new_residual_block_matches_the_scale_of_the_layer_before(kit):
    model = build(kit, "MLP")
    with torch.no_grad():
        model.net[0].weight.mul_(0.01)
    deep = deepen(model, torch.randn(4, 6), where=["net.2"])
    new_rows = deep.net[3].conv1.weight[:16]
    assert new_rows.std().item() == pytest.approx(model.net[0].weight.std().item(), rel=0.15)


def test_plain_conv_chain_gets_own_residual_block(kit):
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1),
                          nn.Tanh(), nn.Flatten(), nn.Linear(6 * 8 * 8, 3)).eval()
    deep = deepen(model, torch.randn(1, 3, 8, 8), where=["3"])  # after the Tanh: negative values
    assert isinstance(deep[4], ResidualBlock) and isinstance(deep[4].bn1, nn.Identity)
    assert kit.max_delta(model, deep, (2, 3, 8, 8)) < 1e-5


def test_net2net_refuses_a_point_with_negative_values(kit):
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.Conv2d(6, 2, 1)).eval()
    with pytest.raises(UnsupportedLayerError, match="after a ReLU"):
        deepen(model, torch.randn(1, 3, 8, 8), where=["1"], method="net2net")


def test_net2net_batchnorm_uses_activation_statistics(kit):
    model = build(kit, "TinyResNet")
    x = torch.randn(4, 3, 12, 12)
    deep = deepen(model, x, where=["stage1"], method="net2net")
    conv, norm, _ = deep.stage1[2]
    with torch.no_grad():
        act = model.stage1(model.stem(x))
    assert torch.allclose(norm.running_mean, act.mean((0, 2, 3)), atol=1e-6)
    assert torch.allclose(norm.weight, (norm.running_var + norm.eps).sqrt())
    assert conv.weight[2, 2, 1, 1] == 1 and conv.weight.abs().sum() == 8


def test_layer_outside_a_sequential_is_wrapped(kit):
    model = build(kit, "SmallCNN")
    deep = deepen(model, torch.randn(2, 3, 16, 16), where=["act"])  # LeakyReLU: r2r fits
    assert isinstance(deep.act, nn.Sequential) and isinstance(deep.act[0], nn.LeakyReLU)
    assert isinstance(deep.act[1], ResidualBlock) and deep.act[1].conv1.in_features == 20
    assert kit.max_delta(model, deep, (3, 3, 16, 16)) < 1e-5


def test_deepened_model_trains(kit):
    model = build(kit, "TinyResNet")
    deep = deepen(model, torch.randn(2, 3, 12, 12), where=["stage1", "stage2"])
    before = deep.stage2[2].conv2.weight.detach().clone()
    first, last = kit.trains(deep, (16, 3, 12, 12), classes=5)
    assert last < first
    assert not torch.equal(before, deep.stage2[2].conv2.weight)  # the zero branch learns


def test_state_dict_loads_into_a_rebuilt_deepened_model(kit, tmp_path):
    x = torch.randn(2, 3, 12, 12)
    deep = deepen(build(kit, "TinyResNet"), x, where=["stage2", "stem.2"])
    torch.save(deep.state_dict(), tmp_path / "deep.pt")
    again = deepen(kit.TinyResNet(), x, where=["stage2", "stem.2"])
    again.load_state_dict(torch.load(tmp_path / "deep.pt", weights_only=True))
    assert kit.max_delta(deep, again, (2, 3, 12, 12)) == 0.0


def test_graph_module_is_deepened_at_a_leaf(kit):
    model = build(kit, "LeNet")
    x = torch.randn(1, 3, 32, 32)
    wide = widen(model, x, factor=2.0)
    assert isinstance(wide, fx.GraphModule)
    deep = deepen(wide, x, where=["fc1"], method="r2r")
    assert any(isinstance(m, ResidualBlock) for m in deep.modules())
    assert kit.max_delta(model, deep, (2, 3, 32, 32)) < 1e-5


class SharedRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.relu = nn.Linear(3, 4), nn.Linear(4, 2), nn.ReLU()

    def forward(self, x):
        return self.b(self.relu(self.relu(self.a(x))))


@pytest.mark.parametrize("where,error,words", [
    (["stage3"], UnknownNameError, "'stage1'"),
    ([], ConfigError, "at least one"),
])
def test_bad_names(kit, where, error, words):
    with pytest.raises(error, match=words):
        deepen(build(kit, "TinyResNet"), torch.randn(1, 3, 12, 12), where=where)


def test_layer_called_twice_is_refused():
    with pytest.raises(UnsupportedLayerError, match="runs 2 times"):
        deepen(SharedRelu(), torch.randn(2, 3), where=["relu"])


def test_bad_method_and_init(kit):
    with pytest.raises(ConfigError, match="'net2net'"):
        deepen(build(kit, "MLP"), torch.randn(2, 6), where=["net.2"], method="net2deeper")
    with pytest.raises(ConfigError, match="init"):
        deepen(build(kit, "MLP"), torch.randn(2, 6), where=["net.2"], init=-1.0)


def test_input_model_is_left_alone(kit):
    model = build(kit, "TinyResNet")
    deepen(model, torch.randn(1, 3, 12, 12), where=["stage1"])
    assert len(model.stage1) == 2
    same = deepen(model, torch.randn(1, 3, 12, 12), where=["stage1"], inplace=True)
    assert same is model and len(model.stage1) == 3


def test_new_block_follows_train_mode(kit):
    model = kit.TinyResNet().train()
    deep = deepen(model, torch.randn(2, 3, 12, 12), where=["stage1"])
    assert deep.stage1[2].training and deep.training


def test_zero_branch_stays_near_zero_in_train_mode(kit):
    """With batch statistics the branch is BatchNorm of an (up to rounding) all-zero map: its
    rounding error is divided by sqrt(eps), so allow ~300x float32 rounding."""
    model = build(kit, "TinyResNet")
    x = torch.randn(4, 3, 12, 12)
    deep = deepen(model, x, where=["stage1"]).train()
    block = deep.stage1[2]
    h = torch.relu(torch.randn(4, 8, 12, 12))
    branch = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(h)))))
    assert branch.abs().max() < 1e-4


@pytest.mark.parametrize("method", ["r2r", "net2net"])
def test_kernel_size_one_keeps_a_deepen_at_many_channels_cheap(kit, method):
    model = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 3))
    model = kit.randomize_norms(model).eval()
    x = torch.randn(2, 3, 8, 8)
    small = deepen(model, x, where=["2"], method=method, kernel_size=1)
    large = deepen(model, x, where=["2"], method=method)  # 3x3 by default
    convs = [m for m in small.get_submodule("2_deeper").modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.kernel_size == (1, 1) for m in convs)
    added = {name: sum(p.numel() for p in m.parameters()) - sum(p.numel() for p in model.parameters())
             for name, m in (("small", small), ("large", large))}
    convs_added = len(convs) * 64 * 64
    assert added["small"] - convs_added == added["large"] - 9 * convs_added  # only the kernels differ
    assert kit.max_delta(model, small, (3, 3, 8, 8)) < 1e-5


@pytest.mark.parametrize("kernel_size", [2, 0, 1.0])
def test_kernel_size_must_be_odd(kit, kernel_size):
    with pytest.raises(ConfigError, match="kernel_size"):
        deepen(build(kit, "MLP"), torch.randn(2, 6), where=["net.2"], kernel_size=kernel_size)
