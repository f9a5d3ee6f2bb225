"""widen: exact for r2r/net2net/netmorph on small models, random padding is not, the result trains."""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import fx, nn

from trainlab.errors import ConfigError, ModelError, UnknownNameError, UnsupportedLayerError
from trainlab.morph import SkippedVolumesWarning, widen

EXACT = ["r2r", "net2net", "netmorph"]
SMALL = [("MLP", (5, 6)), ("SmallCNN", (3, 3, 16, 16)), ("LeNet", (3, 3, 32, 32)),
         ("TinyResNet", (2, 3, 12, 12)), ("ConcatNet", (2, 3, 8, 8))]


def build(kit, name: str) -> nn.Module:
    return kit.randomize_norms(getattr(kit, name)()).eval()


@pytest.mark.parametrize("method", EXACT)
@pytest.mark.parametrize("name,shape", SMALL)
def test_widen_every_volume_preserves_outputs(kit, name, shape, method):
    model = build(kit, name)
    example = torch.randn(1, *shape[1:]) if name != "MLP" else torch.randn(4, 6)
    wide = widen(model, example, factor=1.5, method=method)
    assert isinstance(wide, fx.GraphModule) == (name == "LeNet")  # only a hard-coded view
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in model.parameters())
    assert kit.max_delta(model, wide, shape) < 1e-5


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(widths=st.lists(st.integers(1, 12), min_size=1, max_size=3), extra=st.integers(0, 6),
       method=st.sampled_from(EXACT), seed=st.integers(0, 10_000))
def test_any_mlp_by_any_amount(widths, extra, method, seed):
    torch.manual_seed(seed)
    layers, cin = [], 5
    for width in widths:
        layers += [nn.Linear(cin, width), nn.ReLU()]
        cin = width
    model = nn.Sequential(*layers, nn.Linear(cin, 3)).eval()
    extra += extra % 2 if method == "r2r" else 0
    wide = widen(model, torch.randn(2, 5), extra=extra, method=method)
    assert [m.out_features for m in wide if isinstance(m, nn.Linear)] == [w + extra for w in widths] + [3]
    x = torch.randn(4, 5)
    assert (wide(x) - model(x)).abs().max() < 1e-5


def test_float64_model_is_exact_to_double_precision(kit):
    model = build(kit, "TinyResNet").double()
    wide = widen(model, torch.randn(1, 3, 12, 12, dtype=torch.float64), factor=1.5)
    assert wide.stem[0].weight.dtype == torch.float64 and wide.stem[0].out_channels == 12
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    with torch.no_grad():
        assert (wide(x) - model(x)).abs().max() < 1e-12


@pytest.mark.parametrize("name,shape", SMALL)
def test_random_padding_changes_outputs(kit, name, shape):
    model = build(kit, name)
    wide = widen(model, torch.randn(2, *shape[1:]), factor=2.0, method="random")
    assert kit.max_delta(model, wide, shape) > 1e-3


@pytest.mark.parametrize("method", EXACT + ["random"])
def test_widened_model_trains(kit, method):
    model = build(kit, "SmallCNN")
    wide = widen(model, torch.randn(2, 3, 16, 16), factor=1.5, method=method)
    first, last = kit.trains(wide, (16, 3, 16, 16), classes=5)
    assert last < first


def test_widen_grows_the_right_layers(kit):
    model = build(kit, "TinyResNet")
    x = torch.randn(2, 3, 12, 12)
    wide = widen(model, x, extra=4, where=["stem.0"])  # the stage-1 residual volume
    assert wide.stem[0].out_channels == 12 and wide.stem[1].num_features == 12
    assert wide.stage1[0].conv1.in_channels == 12 and wide.stage1[1].conv2.out_channels == 12
    assert wide.stage1[0].conv1.out_channels == 8  # a hidden volume not chosen
    assert wide.stage2[0].short[0].in_channels == 12 and wide.stage2[0].conv2.out_channels == 16
    assert kit.max_delta(model, wide, (3, 3, 12, 12)) < 1e-5


def test_where_accepts_any_producer_of_a_volume(kit):
    model = build(kit, "TinyResNet")
    x = torch.randn(2, 3, 12, 12)
    by_member = widen(model, x, extra=2, where="stage1.1.conv2")
    assert by_member.stem[0].out_channels == 10


def test_widen_leaves_the_input_model_alone_unless_inplace(kit):
    model = build(kit, "MLP")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    widen(model, torch.randn(4, 6), factor=2.0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    same = widen(model, torch.randn(4, 6), factor=2.0, inplace=True)
    assert same is model and model.net[0].out_features == 64


def test_widen_keeps_train_mode_and_batchnorm_statistics(kit):
    model = kit.randomize_norms(kit.SmallCNN()).train()
    stats = model.bn1.running_mean.clone()
    wide = widen(model, torch.randn(4, 3, 16, 16))
    assert wide.training and wide.bn1.training
    assert torch.equal(wide.bn1.running_mean[:8], stats)


def test_hard_coded_view_is_rewritten_as_flatten(kit):
    model = build(kit, "LeNet")
    wide = widen(model, torch.randn(1, 3, 32, 32), factor=2.0)
    assert isinstance(wide, fx.GraphModule)
    assert wide.fc1.in_features == 32 * 5 * 5
    assert kit.max_delta(model, wide, (4, 3, 32, 32)) < 1e-5
    plain = widen(model, torch.randn(1, 3, 32, 32), where=["conv1"])  # view untouched
    assert not isinstance(plain, fx.GraphModule)


def test_concat_slices_grow_separately(kit):
    model = build(kit, "ConcatNet")
    wide = widen(model, torch.randn(1, 3, 8, 8), extra=2, where=["a"])
    assert wide.bn.num_features == 12 and wide.mix.in_channels == 12
    assert wide.fc.in_features == (12 + 8) * 4
    # the new channels of 'a' sit right after the old ones, before 'b''s
    assert torch.equal(wide.bn.running_mean[6:8], torch.zeros(2))
    assert torch.equal(wide.bn.running_mean[8:], model.bn.running_mean[6:])


def test_r2r_rounds_up_to_pairs_and_factor_rounds_up(kit):
    model = build(kit, "SmallCNN")
    wide = widen(model, torch.randn(1, 3, 16, 16), factor=1.3)  # 8 -> 8 + ceil(2.4)=3 -> 4 (even)
    assert wide.conv1.out_channels == 12
    wide = widen(model, torch.randn(1, 3, 16, 16), factor=1.3, method="net2net")
    assert wide.conv1.out_channels == 11


def test_net2net_noise_breaks_exactness_a_little(kit):
    model = build(kit, "MLP")
    noisy = widen(model, torch.randn(4, 6), factor=2.0, method="net2net", noise=0.01)
    gap = kit.max_delta(model, noisy, (8, 6))
    assert 1e-6 < gap < 0.5


def test_generator_makes_widening_reproducible(kit):
    model = build(kit, "SmallCNN")
    x = torch.randn(1, 3, 16, 16)
    a = widen(model, x, generator=torch.Generator().manual_seed(3))
    b = widen(model, x, generator=torch.Generator().manual_seed(3))
    c = widen(model, x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.conv2.weight, b.conv2.weight)
    assert not torch.equal(a.conv2.weight, c.conv2.weight)


@pytest.mark.parametrize("init", ["match_std", "he", 0.5])
def test_init_sets_the_scale_of_new_weights(kit, init):
    model = nn.Sequential(nn.Linear(50, 400), nn.ReLU(), nn.Linear(400, 3))
    with torch.no_grad():
        model[0].weight.mul_(0.01)
    wide = widen(model, torch.randn(2, 50), extra=400, init=init)
    new = wide[0].weight[400:].std().item()
    old = model[0].weight.std().item()
    expected = {"match_std": old, "he": (2 / 50) ** 0.5, 0.5: 0.5 * old}[init]
    assert new == pytest.approx(expected, rel=0.1)


def test_state_dict_loads_into_a_rebuilt_widened_model(kit, tmp_path):
    model = build(kit, "TinyResNet")
    x = torch.randn(2, 3, 12, 12)
    wide = widen(model, x, factor=1.5)
    torch.save(wide.state_dict(), tmp_path / "wide.pt")
    again = widen(kit.TinyResNet(), x, factor=1.5)
    again.load_state_dict(torch.load(tmp_path / "wide.pt", weights_only=True))
    assert kit.max_delta(wide, again, (2, 3, 12, 12)) == 0.0


@pytest.mark.parametrize("kwargs,error,words", [
    ({"extra": 3}, ConfigError, "even"),
    ({"factor": 0.5}, ConfigError, ">= 1"),
    ({"factor": 1.5, "extra": 2}, ConfigError, "not both"),
    ({"method": "r2rr"}, ConfigError, "'r2r'"),
    ({"init": "xavier"}, ConfigError, "match_std"),
    ({"noise": -1.0}, ConfigError, "noise"),
    ({"where": ["conv3"]}, UnknownNameError, "'conv1'"),
    ({"where": ["fc2"]}, ModelError, "model output"),
])
def test_bad_arguments_say_what_is_allowed(kit, kwargs, error, words):
    with pytest.raises(error, match=words):
        widen(build(kit, "SmallCNN"), torch.randn(1, 3, 16, 16), **kwargs)


def test_example_input_that_does_not_fit_is_a_model_error(kit):
    with pytest.raises(ModelError, match="example_input"):
        widen(build(kit, "SmallCNN"), torch.randn(1, 5, 16, 16))
    with pytest.raises(ModelError, match="tensor"):
        widen(build(kit, "SmallCNN"), [1, 2, 3])


class Grouped(nn.Module):
    """conv -> depthwise conv -> conv -> grouped conv (4 channels per group) -> conv."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.dw = nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.b, self.g = nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.bn, self.c = nn.BatchNorm2d(8), nn.Conv2d(8, 6, 1)

    def forward(self, x):
        h = self.dw(self.a(x)).relu()
        return self.c(self.bn(self.g(self.b(h))).relu())


@pytest.mark.parametrize("method", EXACT)
def test_depthwise_and_grouped_convolutions_get_new_groups(kit, method):
    model = kit.randomize_norms(Grouped()).eval()
    wide = widen(model, torch.randn(1, 3, 8, 8), extra=2, method=method)
    # depthwise: any count (r2r: pairs); groups of 4: rounded up to whole groups (r2r: pairs)
    dw_new, g_new = (2, 8) if method == "r2r" else (2, 4)
    assert wide.dw.groups == wide.dw.in_channels == wide.a.out_channels == 8 + dw_new
    assert wide.g.groups == 2 + g_new // 4 and wide.g.weight.shape == (8 + g_new, 4, 3, 3)
    assert wide.c.in_channels == wide.bn.num_features == 8 + g_new
    new = wide.g.weight[8:]
    if method == "r2r":  # the two halves of the new groups compute the same channels
        assert torch.equal(new[:g_new // 2], new[g_new // 2:])
    if method == "net2net":  # a new group copies an old group, filter for filter
        assert any(torch.equal(new, model.g.weight[i:i + 4]) for i in (0, 4))
    assert kit.max_delta(model, wide, (2, 3, 8, 8)) < 1e-5


def test_a_depthwise_conv_names_the_volume_it_runs_through():
    model = Grouped().eval()
    wide = widen(model, torch.randn(1, 3, 8, 8), extra=2, where=["dw"])
    assert wide.a.out_channels == wide.dw.groups == wide.b.in_channels == 10
    assert wide.g.groups == 2  # another volume


class PartlyBlocked(nn.Module):
    """One volume normalised across channels (LayerNorm), one free to widen."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.norm, self.b = nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 6)
        self.c = nn.Linear(6, 3)

    def forward(self, x):
        return self.c(torch.relu(self.b(self.norm(self.a(x)))))


def test_where_none_widens_what_it_can_and_warns_about_the_rest(kit):
    model = PartlyBlocked().eval()
    with pytest.warns(SkippedVolumesWarning, match=r"left 1 hidden volume.*'a'.*LayerNorm") as record:
        wide = widen(model, torch.randn(2, 4), extra=2)
    assert record[0].filename == __file__  # stacklevel=2: the warning points at the caller
    [(name, reason)] = record[0].message.skipped
    assert name == "a" and "normalises across the channel dimension" in reason
    assert wide.a.out_features == 8 and wide.b.out_features == 8
    assert kit.max_delta(model, wide, (5, 4)) < 1e-5
    with pytest.raises(UnsupportedLayerError, match=r"cannot widen volume 'a'.*LayerNorm.*Widenable volumes: b"):
        widen(model, torch.randn(2, 4), where=["a"])


def test_where_none_refuses_when_no_volume_can_be_widened():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 3)).eval()
    with pytest.raises(UnsupportedLayerError, match=r"none of its 1 hidden volume.*'0'.*LayerNorm"):
        widen(model, torch.randn(2, 4))


def test_groups_that_straddle_volumes_are_refused():
    class Straddle(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 6, 1), nn.Conv2d(3, 2, 1)
            self.g, self.c = nn.Conv2d(8, 8, 1, groups=2), nn.Conv2d(8, 2, 1)

        def forward(self, x):
            return self.c(self.g(torch.cat([self.a(x), self.b(x)], 1)))  # group 0: 4 of a

    with pytest.raises(UnsupportedLayerError, match="do not line up"):
        widen(Straddle(), torch.randn(1, 3, 4, 4), where=["a"])


class AuxHead(nn.Module):
    """An auxiliary head that runs only in training mode (as in GoogLeNet and Inception v3)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.fc = nn.Conv2d(3, 8, 1), nn.Linear(8, 3)
        self.aux = nn.Sequential(nn.Conv2d(8, 4, 5), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))

    def forward(self, x):
        h = torch.relu(self.a(x))
        out = self.fc(h.mean((2, 3)))
        return (out, self.aux(h)) if self.training else out


def test_layers_only_training_mode_runs_are_widened_and_named_when_the_input_is_too_small():
    model = AuxHead()
    model.train()(torch.randn(2, 3, 6, 6))  # materialise the lazy layer
    wide = widen(model.eval(), torch.randn(1, 3, 6, 6), extra=2, where=["a"])
    assert wide.aux[0].in_channels == 10 and not wide.training
    assert wide.train()(torch.randn(2, 3, 6, 6))[1].shape == (2, 2)
    with pytest.raises(ModelError, match=r"\(1, 3, 4, 4\).*training mode.*: aux;"):
        widen(model.eval(), torch.randn(1, 3, 4, 4), extra=2, where=["a"])
