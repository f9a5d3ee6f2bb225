"""The host side of an exported bundle: numpy code that turns the ONNX graphs' outputs into answers.

What stays out of the graphs (data-dependent loops do not export reliably) runs here, without torch:

- classifiers: softmax of the logits;
- the detector: boxes from the head's distances (``softplus(d) · stride`` around each anchor point),
  score = σ(objectness)·σ(class), class-wise non-maximum suppression, the best ``max_detections`` per image
  (what :func:`trainlab.detection.task.decode` does with torchvision);
- CTC: greedy (best-path) decoding of the per-frame log-probabilities, each character's confidence the
  highest posterior over its frames (:func:`trainlab.ocr.ctc.ctc_greedy_decode`);
- attention OCR: the encoder graph once, then the one-step decoder graph in a greedy loop until every line
  has emitted its end (:func:`trainlab.ocr.decoding.attention_greedy_decode`).

An answer is a dict of numpy arrays per input, in the model input's pixels: ``{"scores"}`` (classification),
``{"boxes", "scores", "labels"}`` (detection), ``{"tokens", "confidence"}`` (OCR).

Example:
    >>> [a["scores"].round(2).tolist() for a in classification_answers(np.array([[0.0, np.log(3.0)]]))]
    [[0.25, 0.75]]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def classification_answers(logits: np.ndarray) -> list[dict[str, np.ndarray]]:
    """``{"scores": probabilities (K,)}`` per row of logits (B, K)."""
    return [{"scores": p} for p in softmax(logits.astype(np.float32))]


# ---------------------------------------------------------------------------------------------- detection
def anchors(image_size: tuple[int, int], strides: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres (A, 2) as (x, y) pixels and strides (A,) of an input (H, W), finest level first.

    Example:
        >>> c, s = anchors((64, 64), [8, 16, 32])
        >>> c.shape, s.shape, c[0].tolist()
        ((84, 2), (84,), [4.0, 4.0])
    """
    centres, steps = [], []
    for s in strides:
        h, w = -(-image_size[0] // s), -(-image_size[1] // s)
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        centres.append((np.stack([xs, ys], -1).reshape(-1, 2).astype(np.float32) + 0.5) * s)
        steps.append(np.full(h * w, s, dtype=np.float32))
    return np.concatenate(centres), np.concatenate(steps)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes (N, 4) xyxy kept by greedy non-maximum suppression, best score first; a box is
    dropped when its IoU with a kept one exceeds ``iou_threshold`` (torchvision's rule).

    Example:
        >>> nms(np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32),
        ...     np.array([0.9, 0.8, 0.7], np.float32), 0.5).tolist()
        [0, 2]
    """
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(1)
        iou = inter / (area[i] + area[rest] - inter)
        order = rest[~(iou > iou_threshold)]
    return np.array(keep, dtype=np.int64)


def detection_answers(raw: np.ndarray, image_size: tuple[int, int], settings: dict[str, Any]
                      ) -> list[dict[str, np.ndarray]]:
    """Detections per image from the head's outputs (B, A, 5 + C) of inputs of ``image_size`` (H, W).

    ``settings``: strides, score_threshold, iou_threshold, max_detections (the run's ``detection`` section).
    """
    centres, strides = anchors(image_size, settings["strides"])
    raw = raw.astype(np.float32)
    d = np.logaddexp(0, raw[..., :4]) * strides[:, None]  # softplus: (B, A, 4) left, top, right, bottom
    boxes = np.concatenate([centres - d[..., :2], centres + d[..., 2:]], -1)
    scores = sigmoid(raw[..., 4:5]) * sigmoid(raw[..., 5:])  # (B, A, C)
    best, label = scores.max(-1), scores.argmax(-1)
    out = []
    for b in range(raw.shape[0]):
        keep = np.flatnonzero(best[b] > settings["score_threshold"])
        kept = []
        for k in np.unique(label[b, keep]):
            idx = keep[label[b, keep] == k]
            kept.append(idx[nms(boxes[b, idx], best[b, idx], settings["iou_threshold"])])
        idx = np.concatenate(kept) if kept else np.zeros(0, np.int64)
        idx = idx[np.argsort(-best[b, idx], kind="stable")][: settings["max_detections"]]
        out.append({"boxes": boxes[b, idx], "scores": best[b, idx], "labels": label[b, idx]})
    return out


# ---------------------------------------------------------------------------------------------- OCR
def frame_lengths(widths: np.ndarray, frames: int, stride: int = 4) -> np.ndarray:
    """Frames covering each line's real width: ceil(width / stride), within 1..frames."""
    return np.clip(-(-widths // stride), 1, frames)


def ctc_answers(log_probs: np.ndarray, widths: np.ndarray | None, settings: dict[str, Any]
                ) -> list[dict[str, np.ndarray]]:
    """Greedy CTC decoding of (B, T, K+1) log-probabilities; frames past a line's width are ignored.

    Example:
        >>> p = np.log(np.array([[[.1, .8, .1], [.1, .8, .1], [.9, .05, .05], [.2, .7, .1], [.1, .1, .8]]]))
        >>> a = ctc_answers(p, None, {"blank": 0})[0]
        >>> a["tokens"].tolist(), [round(float(c), 2) for c in a["confidence"]]
        ([1, 1, 2], [0.8, 0.7, 0.8])
    """
    blank = settings.get("blank", 0)
    b, t, _ = log_probs.shape
    probs = softmax(log_probs.astype(np.float32))
    best, conf = probs.argmax(-1), probs.max(-1)
    frames = np.full(b, t) if widths is None else frame_lengths(widths, t, settings.get("width_stride", 4))
    out = []
    for i in range(b):
        tokens, confidence = [], []
        prev = blank
        for s, c in zip(best[i, : frames[i]].tolist(), conf[i, : frames[i]].tolist()):
            if s != blank and s != prev:  # a new character starts
                tokens.append(s)
                confidence.append(c)
            elif s != blank:  # the run of the current character goes on
                confidence[-1] = max(confidence[-1], c)
            prev = s
        out.append({"tokens": np.array(tokens, np.int64), "confidence": np.array(confidence, np.float32)})
    return out


def attention_answers(encode: Callable[..., list[np.ndarray]], step: Callable[..., list[np.ndarray]],
                      x: np.ndarray, widths: np.ndarray, settings: dict[str, Any]) -> list[dict[str, np.ndarray]]:
    """Greedy decoding of the attention model: ``encode(x, widths) -> [values, keys, mask, state]`` once,
    then ``step(tokens, state, values, keys, mask) -> [log_probs, state]`` until every line has emitted the
    end (id 0) or ``max_length`` symbols."""
    values, keys, mask, state = encode(x, widths)
    b = x.shape[0]
    prev = np.full(b, settings["start_token"], dtype=np.int64)
    ended = np.zeros(b, dtype=bool)
    tokens, confidence = [], []
    for _ in range(settings["max_length"] + 1):
        log_probs, state = step(prev, state, values, keys, mask)
        token = np.where(ended, 0, log_probs.argmax(-1))
        tokens.append(token)
        confidence.append(np.exp(np.take_along_axis(log_probs, token[:, None], 1)[:, 0]))
        ended |= token == 0
        prev = token
        if ended.all():
            break
    tokens, confidence = np.stack(tokens, 1), np.stack(confidence, 1)  # (B, steps)
    lengths = np.where((tokens == 0).any(1), (tokens == 0).argmax(1), tokens.shape[1])
    lengths = np.minimum(lengths, settings["max_length"])
    return [{"tokens": tokens[i, :n], "confidence": confidence[i, :n].astype(np.float32)}
            for i, n in enumerate(lengths.tolist())]
