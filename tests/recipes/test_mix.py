"""mixup / cutmix: the blend, the soft targets, determinism, alpha -> 0, where it is refused."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainlab.config import parse_config
from trainlab.engine.factory import learner_from_config
from trainlab.errors import ConfigError
from trainlab.recipes import MixBatches, cut_box, mix_batch

from ..engine.helpers import tiny_learner


def test_mixup_blends_images_and_targets_with_the_same_weight():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 1, 4, 4, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])
    perm = torch.tensor([3, 4, 5, 0, 1, 2])
    mx, my = mix_batch(x, y, num_classes=3, lam=0.7, perm=perm)
    torch.testing.assert_close(mx, 0.7 * x + 0.3 * x[perm])
    assert my.shape == (6, 3) and torch.allclose(my.sum(1), torch.ones(6))
    assert torch.equal(my.argmax(1), y)  # lam >= 0.5: each image's own label dominates


def test_cutmix_pastes_a_box_and_weighs_the_targets_by_its_true_area():
    x = torch.zeros(2, 1, 10, 10)
    x[1] = 1.0
    box = cut_box(10, 10, 0.64, np.random.default_rng(5))  # side 0.6 of the image, clipped at the borders
    y0, y1, x0, x1 = box
    mx, my = mix_batch(x, torch.tensor([0, 1]), num_classes=2, lam=0.64, perm=torch.tensor([1, 0]), box=box)
    inside = (y1 - y0) * (x1 - x0) / 100
    assert 0 < inside <= 0.36
    assert float(mx[0].mean()) == pytest.approx(inside) and float(mx[1].mean()) == pytest.approx(1 - inside)
    assert my[0].tolist() == pytest.approx([1 - inside, inside])


def test_soft_targets_with_label_smoothing_are_the_mixed_smoothed_losses():
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    y, perm, lam = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 0, 3, 2]), 0.8
    _, soft = mix_batch(torch.zeros(4, 1, 2, 2), y, num_classes=5, lam=lam, perm=perm)
    mixed = F.cross_entropy(logits, soft, reduction="none", label_smoothing=0.1)
    by_hand = lam * F.cross_entropy(logits, y, reduction="none", label_smoothing=0.1) + \
        (1 - lam) * F.cross_entropy(logits, y[perm], reduction="none", label_smoothing=0.1)
    torch.testing.assert_close(mixed, by_hand)


def test_draws_depend_only_on_seed_epoch_and_batch():
    mix = MixBatches(mixup_alpha=0.4, cutmix_alpha=1.0, seed=7)
    a, b = mix.draw(3, 5, 32, 28, 28), mix.draw(3, 5, 32, 28, 28)
    assert a[0] == b[0] and torch.equal(a[1], b[1]) and a[2] == b[2]
    draws = [mix.draw(3, i, 32, 28, 28) for i in range(40)]
    assert len({d[0] for d in draws}) == 40 and all(0.5 <= d[0] <= 1 for d in draws)
    assert 5 < sum(d[2] is not None for d in draws) < 35  # switch_prob 0.5: both kinds occur
    assert sum(MixBatches(mixup_alpha=1.0, prob=0.3).draw(0, i, 8, 4, 4) is not None for i in range(200)) in range(40, 80)


def test_alpha_towards_zero_trains_exactly_as_without_mixing():
    plain = tiny_learner(dropout=0.2).fit(2)
    mixed = tiny_learner(dropout=0.2, callbacks=[MixBatches(mixup_alpha=1e-6, cutmix_alpha=1e-6)]).fit(2)
    for k, v in plain.model.state_dict().items():
        assert torch.equal(v, mixed.model.state_dict()[k]), k
    assert plain.history.rows[-1]["train.loss"] == mixed.history.rows[-1]["train.loss"]


def test_mixing_changes_training_and_the_history_says_how_metrics_were_counted():
    plain = tiny_learner().fit(1)
    mixed = tiny_learner(callbacks=[MixBatches(mixup_alpha=0.4)]).fit(1)
    row = mixed.history.rows[-1]
    assert row["train.loss"] != plain.history.rows[-1]["train.loss"]
    assert "dominant label" in row["mix"] and sum(row["train.per_class.support"]) == mixed.data.train.num_samples


@pytest.mark.parametrize("params", [
    {"data": {"name": "digit-strings", "args": {"height": 16, "lines": [32, 8, 8]}},
     "model": {"name": "crnn", "args": {"channels": 4, "hidden": 8, "layers": 1}}},
    {"data": {"name": "digit-scenes", "args": {"size": 64, "scenes": [16, 8, 8], "objects": [1, 2],
                                               "object_size": [12, 24]}},
     "model": {"name": "yolo", "args": {"width": 8}}},
], ids=["ocr", "detection"])
def test_refused_in_one_line_for_tasks_whose_targets_do_not_mix(params):
    params["data"]["mix"] = {"mixup_alpha": 0.2}
    cfg = parse_config({**params, "train": {"num_threads": 1, "count_flops": False},
                        "logging": {"tensorboard": False, "plot": False, "progress": "none"}})
    with pytest.raises(ConfigError, match="data.mix mixes class labels") as err:
        learner_from_config(cfg, None)
    assert "\n" not in str(err.value)


def test_refused_beside_a_loss_objective():
    cfg = parse_config({"data": {"name": "synthetic", "args": {"samples": 64, "image_size": 8},
                                 "mix": {"mixup_alpha": 0.2}},
                        "model": {"name": "mlp"}, "loss": {"focal": {"gamma": 2}},
                        "logging": {"tensorboard": False, "plot": False, "progress": "none"}})
    with pytest.raises(ConfigError, match="needs class indices"):
        learner_from_config(cfg, None).fit(1)
    with pytest.raises(Exception, match="mixup_alpha or cutmix_alpha"):
        parse_config({"data": {"mix": {"mixup_alpha": 0}}})
