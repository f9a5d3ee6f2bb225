import random

import pytest
import torch

from trainlab.config import load_config, parse_config
from trainlab.evolve.config import EvolveConfig
from trainlab.morph.config import MorphStep
from trainlab.models import model_from_config
from trainlab.errors import ConfigError, ModelError
from trainlab.morph.experiment import write_transformed_experiment
from trainlab.evolve.mutation import deepen_candidates, sample_mutation
from trainlab.models import build_model

SHAPE = (1, 8, 8)


@pytest.fixture
def net_cfg():
    torch.manual_seed(0)
    cfg = parse_config({"model": {"name": "cnn_tiny", "args": {"width": 8}}, "optim": {"lr": 0.01, "weight_decay": 1e-4},
                        "evolve": {}})
    net = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8), width=8)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval(), cfg


@pytest.mark.parametrize("method", ["r2r", "net2net", "netmorph"])
@pytest.mark.parametrize("kind", ["widen", "deepen", "lr"])
def test_every_mutation_preserves_the_function_and_rebuilds(tmp_path, net_cfg, method, kind):
    net, cfg = net_cfg
    weights = {"widen": 0.0, "deepen": 0.0, "lr": 0.0, kind: 1.0}
    ev = EvolveConfig(method=method, mutations={k: {"p": v} for k, v in weights.items()})
    x = torch.randn(16, *SHAPE)
    mutation = sample_mutation(random.Random(3), net, x, ev)
    assert mutation.kind == kind
    birth = write_transformed_experiment(cfg, net, mutation.steps, tmp_path / "child", input_shape=SHAPE,
                                         check_input=x, lr_factor=mutation.lr_factor, scale_weight_decay=True,
                                         tolerance=1e-4, drop_sections=("evolve",))
    assert birth.delta <= 1e-4
    assert (birth.n_new > birth.n_old) == (kind != "lr")
    child_cfg = load_config(tmp_path / "child")
    assert child_cfg.evolve is None and len(child_cfg.model.morph) == len(mutation.steps)
    expected_lr = 0.01 * birth.n_old / birth.n_new * mutation.lr_factor
    assert child_cfg.optim.lr == pytest.approx(expected_lr)
    assert child_cfg.optim.weight_decay == pytest.approx(1e-4 * birth.n_old / birth.n_new)
    rebuilt = model_from_config(child_cfg, num_classes=10, input_shape=SHAPE, base_dir=tmp_path / "child").eval()
    y = torch.randn(8, *SHAPE)  # not the check batch
    with torch.no_grad():
        assert (rebuilt(y) - net(y)).abs().max() < 1e-4


def test_a_non_preserving_transform_is_an_error_at_birth(tmp_path, net_cfg):
    net, cfg = net_cfg
    step = MorphStep(op="widen", factor=2.0, method="random", init=1.0)
    with pytest.raises(ModelError, match="not function preserving"):
        write_transformed_experiment(cfg, net, [step], tmp_path / "c", input_shape=SHAPE,
                                     check_input=torch.randn(16, *SHAPE), tolerance=1e-4)
    assert not (tmp_path / "c" / "params.json").exists()


def test_mutation_draws_are_reproducible_and_follow_the_probabilities(net_cfg):
    net, _ = net_cfg
    x = torch.zeros(2, *SHAPE)
    ev = EvolveConfig(mutations={"widen": {"p": 1.0}, "deepen": {"p": 1.0, "stages": ["block2"]}, "lr": {"p": 0.0}})
    draws = [sample_mutation(random.Random(f"0-1-{i}"), net, x, ev) for i in range(12)]
    again = [sample_mutation(random.Random(f"0-1-{i}"), net, x, ev) for i in range(12)]
    assert [d.text for d in draws] == [d.text for d in again]
    assert {d.kind for d in draws} == {"widen", "deepen"}
    assert all(d.steps[0].where == ["block2"] for d in draws if d.kind == "deepen")
    assert deepen_candidates(net, x) == ["stem", "block1", "block2", "pool"]
    with pytest.raises(ConfigError, match="every probability is 0"):
        sample_mutation(random.Random(0), net, x, EvolveConfig(mutations={k: {"p": 0} for k in ("widen", "deepen", "lr")}))
