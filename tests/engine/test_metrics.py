import pytest
import torch
from sklearn.metrics import f1_score
from torchmetrics.classification import MulticlassAccuracy

from trainlab.engine.metrics import ClassificationMetrics


def test_per_class_metrics_by_hand():
    # 3 classes; true labels and predictions chosen so every number can be checked by hand.
    target = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 0, 1, 1, 2, 2])
    logits = torch.nn.functional.one_hot(pred, 3).float() * 5
    loss = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    m = ClassificationMetrics(3)
    m.update(logits[:4], target[:4], loss[:4])  # two updates must add up
    m.update(logits[4:], target[4:], loss[4:])
    out = m.compute()
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["loss"] == pytest.approx(2.1 / 6)
    assert out["per_class"]["accuracy"] == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert out["per_class"]["loss"] == pytest.approx([0.2, 0.45, 0.6])
    assert out["per_class"]["support"] == [3, 2, 1]
    # class 0: P=1, R=2/3 -> F1=0.8; class 1: P=1/2, R=1/2 -> 0.5; class 2: P=1/2, R=1 -> 2/3
    assert out["per_class"]["f1"] == pytest.approx([0.8, 0.5, 2 / 3])
    assert out["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert out["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert "top5" not in out


def test_agrees_with_torchmetrics_and_sklearn():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 7, generator=gen)
    target = torch.randint(0, 7, (500,), generator=gen)
    m = ClassificationMetrics(7)
    m.update(logits, target, torch.zeros(500))
    out = m.compute()
    ref = MulticlassAccuracy(num_classes=7, average=None)(logits, target)
    assert out["per_class"]["accuracy"] == pytest.approx(ref.tolist())
    assert out["f1"] == pytest.approx(f1_score(target, logits.argmax(1), average="macro"))
    top5 = (logits.topk(5, 1).indices == target[:, None]).any(1).float().mean()
    assert out["top5"] == pytest.approx(float(top5))
