"""Which anchor points learn which true box: the task-aligned assigner of TOOD / YOLOv8, with YOLOX's
centre sampling for the candidates.

For every true box g and anchor point a (all batched, no per-image Python):

1. candidates: a's centre lies inside g, or within ``radius`` strides of g's centre (so a box smaller
   than a cell still has candidates);
2. alignment t(a, g) = s^alpha · IoU^beta, s the predicted score of g's class at a, IoU between a's
   predicted box and g (both detached): a cell that already classifies and localizes g well is preferred;
3. the ``topk`` candidates with the highest t become g's positives; a point claimed by several boxes
   keeps the one its prediction overlaps most;
4. the class target of a positive is t normalized per box so that the best positive of g gets g's best
   IoU (an IoU-aware score, as in VarifocalNet / YOLOv8).

Feng et al. 2021, "TOOD: Task-aligned One-stage Object Detection" (arXiv 2108.07755); Ge et al. 2021,
"YOLOX" (arXiv 2107.08430).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import box_iou


@dataclass
class Assignment:
    """fg (B, A) bool: positive points; boxes (B, A, 4) and labels (B, A) of the box each point learns
    (meaningless where not fg); quality (B, A): the IoU-aware class target of each positive."""

    fg: Tensor
    boxes: Tensor
    labels: Tensor
    quality: Tensor


@torch.no_grad()
def assign(scores: Tensor, pred_boxes: Tensor, centres: Tensor, strides: Tensor, gt_boxes: Tensor, gt_labels: Tensor,
           *, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, radius: float = 2.5) -> Assignment:
    """Assign true boxes to anchor points.

    Args:
        scores: (B, A, C) predicted class probabilities (objectness included).
        pred_boxes: (B, A, 4) predicted boxes, xyxy pixels.
        centres: (A, 2) anchor centres (x, y); strides: (A,).
        gt_boxes: (B, G, 4) xyxy pixels; gt_labels: (B, G), -1 for padding.

    Example:
        >>> centres = torch.tensor([[4., 4.], [12., 4.], [4., 12.], [12., 12.]]); strides = torch.full((4,), 8.)
        >>> gt = torch.tensor([[[0., 0., 9., 9.]]]); labels = torch.tensor([[1]])
        >>> pred = torch.tensor([[[0., 0., 8., 8.], [8., 0., 16., 8.], [0., 8., 8., 16.], [8., 8., 16., 16.]]])
        >>> a = assign(torch.full((1, 4, 2), 0.5), pred, centres, strides, gt, labels, topk=1)
        >>> a.fg.tolist(), int(a.labels[0, 0])
        ([[True, False, False, False]], 1)
    """
    b, a, c = scores.shape
    g = gt_boxes.shape[1]
    valid = gt_labels >= 0  # (B, G)
    x, y = centres[:, 0], centres[:, 1]  # (A,)
    gx1, gy1, gx2, gy2 = (gt_boxes[..., i, None] for i in range(4))  # (B, G, 1) each
    inside = (x > gx1) & (x < gx2) & (y > gy1) & (y < gy2)  # (B, G, A)
    r = radius * strides  # (A,)
    near = ((x - (gx1 + gx2) / 2).abs() < r) & ((y - (gy1 + gy2) / 2).abs() < r)
    candidate = (inside | near) & valid[..., None]

    iou = torch.stack([box_iou(gt_boxes[i], pred_boxes[i]) for i in range(b)]) if g else scores.new_zeros(b, 0, a)
    label_index = gt_labels.clamp_min(0)[..., None].expand(b, g, a)  # (B, G, A)
    cls_score = scores.transpose(1, 2).gather(1, label_index)  # (B, G, A) score of g's class at a
    align = torch.where(candidate, cls_score.pow(alpha) * iou.pow(beta), 0.0)

    k = min(topk, a)
    top = align.topk(k, dim=-1).indices  # (B, G, k)
    chosen = torch.zeros_like(candidate).scatter_(-1, top, True) & candidate  # (B, G, A)
    # a point chosen by several boxes learns the one its prediction overlaps most
    several = chosen.sum(1, keepdim=True) > 1  # (B, 1, A)
    best_gt = torch.where(chosen, iou, -1.0).argmax(1, keepdim=True)  # (B, 1, A)
    only_best = torch.zeros_like(chosen).scatter_(1, best_gt, True)
    chosen = torch.where(several, only_best & chosen, chosen)

    fg = chosen.any(1)  # (B, A)
    gt_of = chosen.float().argmax(1)  # (B, A) the box each positive learns
    boxes = gt_boxes.gather(1, gt_of[..., None].expand(b, a, 4))
    labels = gt_labels.gather(1, gt_of)
    align = align * chosen
    best_align = align.amax(-1, keepdim=True)  # (B, G, 1)
    best_iou = (iou * chosen).amax(-1, keepdim=True)
    norm = (align * best_iou / (best_align + 1e-9)).amax(1)  # (B, A)
    return Assignment(fg, boxes, labels, torch.where(fg, norm, 0.0))
