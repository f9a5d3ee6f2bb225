"""rebuild_optimizer: same class and settings, lr scaled by old/new parameter count, fresh state."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.morph import deepen, rebuild_optimizer, widen


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("make", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda p: torch.optim.Adam(p, lr=3e-3, betas=(0.8, 0.99), amsgrad=True),
    lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.05),
    lambda p: torch.optim.RMSprop(p, lr=1e-2, alpha=0.9),
])
def test_param_ratio_scales_lr_and_keeps_settings(kit, make):
    model = kit.MLP()
    old = make(model.parameters())
    wide = widen(model, torch.randn(4, 6), factor=2.0)
    new = rebuild_optimizer(old, wide)
    assert type(new) is type(old)
    before, after = old.param_groups[0], new.param_groups[0]
    assert after["lr"] == pytest.approx(before["lr"] * count(model) / count(wide))
    assert {k: v for k, v in after.items() if k not in ("lr", "params")} == \
        {k: v for k, v in before.items() if k not in ("lr", "params")}
    assert {id(p) for p in after["params"]} == {id(p) for p in wide.parameters()}
    assert not new.state


def test_keep_rule_and_weight_decay_scaling(kit):
    model = kit.MLP()
    old = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-3)
    deep = deepen(model, torch.randn(4, 6), where=["net.2"])
    assert rebuild_optimizer(old, deep, lr_rule="keep").param_groups[0]["lr"] == 0.1
    scaled = rebuild_optimizer(old, deep, scale_weight_decay=True).param_groups[0]
    ratio = count(model) / count(deep)
    assert scaled["weight_decay"] == pytest.approx(1e-3 * ratio) and scaled["lr"] == pytest.approx(0.1 * ratio)


def test_several_groups_are_matched_by_name(kit):
    model = kit.TinyResNet()
    norms = [p for n, p in model.named_parameters() if ".bn" in n or "stem.1" in n]
    others = [p for n, p in model.named_parameters() if not (".bn" in n or "stem.1" in n)]
    old = torch.optim.SGD([{"params": others, "weight_decay": 1e-4}, {"params": norms, "weight_decay": 0.0}],
                          lr=0.1)
    deep = deepen(widen(model, torch.randn(2, 3, 12, 12)), torch.randn(2, 3, 12, 12), where=["stage1"])
    with pytest.raises(ConfigError, match="old_model"):
        rebuild_optimizer(old, deep)
    new = rebuild_optimizer(old, deep, old_model=model)
    no_decay = {id(p) for p in new.param_groups[1]["params"]}
    assert id(deep.stage1[2].bn1.weight) in no_decay  # a new layer joins its look-alike's group
    assert id(deep.stage1[2].conv1.weight) not in no_decay
    assert sum(len(g["params"]) for g in new.param_groups) == len(list(deep.parameters()))


def test_unknown_rule():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="param_ratio"):
        rebuild_optimizer(opt, nn.Linear(2, 2), lr_rule="ratio")


def test_rebuilt_optimizer_trains_the_new_model(kit):
    model = kit.MLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    wide = widen(model, torch.randn(4, 6), factor=1.5).train()
    opt = rebuild_optimizer(opt, wide)
    x, y = torch.randn(32, 6), torch.randint(0, 4, (32,))
    torch.manual_seed(0)
    first = nn.functional.cross_entropy(wide(x), y)
    for _ in range(20):
        loss = nn.functional.cross_entropy(wide(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss < first


@pytest.mark.parametrize("method", ["r2r", "net2net"])
def test_weight_decay_split_survives_a_deepen_inside_a_numbered_sequential(method):
    # inserting after layer "1" used to renumber "2" and "3", so matching groups by name put the
    # old conv weight in the no-decay group and the new BatchNorm weight in the decay group
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8)).eval()
    opt = torch.optim.SGD([
        {"params": [net[0].weight, net[2].weight], "weight_decay": 1e-4},
        {"params": [net[0].bias, net[2].bias, net[3].weight, net[3].bias], "weight_decay": 0.0},
    ], lr=0.1)
    deep = deepen(net, torch.randn(2, 3, 12, 12), where=["1"], method=method)
    assert list(deep._modules)[:4] == ["0", "1", "1_deeper", "2"]  # later layers keep their names
    new = rebuild_optimizer(opt, deep, old_model=net)
    decay = {id(p) for p in new.param_groups[0]["params"]}
    assert decay == {id(p) for n, p in deep.named_parameters() if n.endswith("weight") and p.dim() == 4}
    assert id(deep[3].weight) in decay and id(deep[4].weight) not in decay
    assert sum(len(g["params"]) for g in new.param_groups) == len(list(deep.parameters()))


def test_new_layers_join_the_group_of_their_kind_and_held_parameters_keep_theirs():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    weights = [m.weight for m in net if isinstance(m, nn.Linear)]
    biases = [m.bias for m in net if isinstance(m, nn.Linear)]
    opt = torch.optim.SGD([{"params": biases, "weight_decay": 0.0},
                           {"params": weights, "weight_decay": 0.1}], lr=0.1)
    same = deepen(net, torch.randn(2, 4), where=["3"], inplace=True)  # a new ResidualBlock
    new = rebuild_optimizer(opt, same, old_model=same)
    no_decay, decay = ({id(p) for p in g["params"]} for g in new.param_groups)
    block = same.get_submodule("3_deeper")
    assert {id(block.conv1.weight), id(block.conv2.weight)} <= decay
    assert {id(block.conv1.bias), id(block.conv2.bias)} <= no_decay
    assert {id(p) for p in weights} <= decay and {id(p) for p in biases} <= no_decay
