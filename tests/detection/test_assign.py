"""The task-aligned assigner: candidates, top-k, one box per point, IoU-aware quality."""
from __future__ import annotations

import torch

from trainlab.detection.assign import assign
from trainlab.detection.model import YOLO


def grid(h: int = 64, w: int = 64):
    return YOLO(num_classes=2, in_channels=1, width=8).anchors((h, w))


def test_every_true_box_gets_positives_even_one_smaller_than_a_cell() -> None:
    centres, strides = grid()
    a = len(centres)
    pred = torch.cat([centres - 6, centres + 6], 1)[None]  # (1, A, 4) boxes of 12 px around each point
    gt = torch.tensor([[[30.0, 30.0, 34.0, 34.0], [2.0, 40.0, 40.0, 62.0], [0.0, 0.0, 0.0, 0.0]]])
    labels = torch.tensor([[0, 1, -1]])
    r = assign(torch.full((1, a, 2), 0.5), pred, centres, strides, gt, labels, topk=5)
    assert r.fg.sum() > 0 and r.fg.sum() <= 10
    learned = r.labels[r.fg]
    assert set(learned.tolist()) == {0, 1}  # both real boxes, never the padding
    assert (r.quality[r.fg] > 0).all() and (r.quality[~r.fg] == 0).all()
    # the best positive of each box gets that box's best IoU (the IoU-aware class target)
    for k in (0, 1):
        assert float(r.quality[r.fg & (r.labels == k)].max()) <= 1.0


def test_a_point_claimed_by_two_boxes_learns_the_one_it_overlaps_most() -> None:
    centres, strides = torch.tensor([[10.0, 10.0]]), torch.tensor([8.0])
    pred = torch.tensor([[[2.0, 2.0, 18.0, 18.0]]])
    gt = torch.tensor([[[0.0, 0.0, 30.0, 30.0], [3.0, 3.0, 19.0, 19.0]]])
    r = assign(torch.full((1, 1, 2), 0.5), pred, centres, strides, gt, torch.tensor([[0, 1]]), topk=1)
    assert r.fg.tolist() == [[True]] and r.labels.tolist() == [[1]] and r.boxes[0, 0].tolist() == gt[0, 1].tolist()


def test_better_predictions_are_chosen_first() -> None:
    centres, strides = torch.tensor([[8.0, 8.0], [12.0, 12.0], [16.0, 16.0]]), torch.full((3,), 8.0)
    gt = torch.tensor([[[4.0, 4.0, 20.0, 20.0]]])
    pred = torch.tensor([[[0.0, 0.0, 10.0, 10.0], [4.0, 4.0, 20.0, 20.0], [10.0, 10.0, 30.0, 30.0]]])
    r = assign(torch.full((1, 3, 1), 0.5), pred, centres, strides, gt, torch.tensor([[0]]), topk=1)
    assert r.fg.tolist() == [[False, True, False]] and abs(float(r.quality[0, 1]) - 1.0) < 1e-5
