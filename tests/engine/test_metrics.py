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


def test_states_sum_and_concatenate_across_two_processes(tmp_path):
    """Metric.sync under a real 2-process gloo group: sums add up, rows of different counts concatenate."""
    import subprocess
    import sys

    script = tmp_path / "sync.py"
    script.write_text('''
import os, sys, torch, torch.distributed as dist
from trainlab.engine.metric import Metric
dist.init_process_group("gloo", init_method=f"file://{sys.argv[1]}", rank=int(sys.argv[2]), world_size=2)
rank = dist.get_rank()
class M(Metric):
    def __init__(self):
        super().__init__()
        self.add_state("n", torch.zeros((), dtype=torch.long), "sum")
        self.add_state("rows", torch.zeros(0, 2), "cat")
m = M()
m.n += rank + 1
m.rows = torch.full((rank + 1, 2), float(rank))
m.sync().sync()  # a second sync changes nothing
print(int(m.n), m.rows.tolist())
dist.destroy_process_group()
''')
    store = tmp_path / "store"
    procs = [subprocess.Popen([sys.executable, str(script), str(store), str(r)], stdout=subprocess.PIPE, text=True)
             for r in range(2)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] == "3 [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]"
