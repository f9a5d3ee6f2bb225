"""Text-line recognizers: CRNN (CNN → BiLSTM → CTC) and an attention encoder–decoder.

* ``crnn`` — Shi, Bai & Yao 2016, "An End-to-End Trainable Neural Network for Image-based Sequence
  Recognition and Its Application to Scene Text Recognition" (arXiv:1507.05717): a CNN turns the line
  into columns, a bidirectional LSTM reads them, a linear layer scores K symbols + the CTC blank per
  column.
* ``attention_ocr`` — the same encoder, then a GRU decoder with additive attention (Bahdanau, Cho &
  Bengio 2015, "Neural Machine Translation by Jointly Learning to Align and Translate",
  arXiv:1409.0473) that emits one symbol per step until the end-of-line symbol.

Both take lines (B, C, H, W) with H fixed (≥ 16) and any width W; the encoder divides the width by 4
(one time step per 4 pixel columns) and the height by 16. ``num_classes`` is the number of symbols K
(the data's class names); the heads have K + 1 outputs, id 0 being the blank (CTC) or the end of line
(attention). Both name their output layer ``head``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ModelError
from ..models.registry import take_options
from ..models.small import conv_bn_relu

WIDTH_STRIDE = 4  # pixel columns per time step
HEIGHT_STRIDE = 16


def frame_lengths(widths: Tensor, frames: int) -> Tensor:
    """Time steps that cover each line's real (unpadded) pixel width, at most ``frames``.

    Example:
        >>> frame_lengths(torch.tensor([64, 10, 3]), frames=12).tolist()
        [12, 3, 1]
    """
    return torch.div(widths + WIDTH_STRIDE - 1, WIDTH_STRIDE, rounding_mode="floor").clamp(1, frames)


class LineEncoder(nn.Module):
    """Conv-BN-ReLU stages, then a BiLSTM over the columns: (B, C, H, W) → (B, W/4, 2·hidden).

    Pooling halves height and width twice, then the height alone twice, so each time step sees a
    4-pixel-wide column band of the whole line height (and, through the LSTM, the whole line).

    Example:
        >>> LineEncoder(in_channels=1, height=32, channels=8, hidden=16)(torch.zeros(2, 1, 32, 100)).shape
        torch.Size([2, 25, 32])
    """

    def __init__(self, *, in_channels: int, height: int, channels: int = 32, hidden: int = 128, layers: int = 2,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if height < HEIGHT_STRIDE:
            raise ModelError(f"OCR models need lines at least {HEIGHT_STRIDE} pixels high, got height {height}; "
                             "set data.args.height to 16 or more (e.g. 32).")
        c = channels
        self.cnn = nn.Sequential(
            conv_bn_relu(in_channels, c), nn.MaxPool2d(2),  # (B, c, H/2, W/2)
            conv_bn_relu(c, 2 * c), nn.MaxPool2d(2),  # (B, 2c, H/4, W/4)
            conv_bn_relu(2 * c, 4 * c), conv_bn_relu(4 * c, 4 * c), nn.MaxPool2d((2, 1)),  # (B, 4c, H/8, W/4)
            conv_bn_relu(4 * c, 8 * c), nn.MaxPool2d((2, 1)),  # (B, 8c, H/16, W/4)
        )
        self.features = 8 * c * (height // HEIGHT_STRIDE)
        self.drop = nn.Dropout(dropout)
        self.rnn = nn.LSTM(self.features, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.out_features = 2 * hidden

    def forward(self, x: Tensor) -> Tensor:  # x: (B, C, H, W)
        f = self.cnn(x)  # (B, 8c, H', T)
        b, c, h, t = f.shape
        seq = f.permute(0, 3, 1, 2).reshape(b, t, c * h)  # (B, T, 8c·H'): one feature vector per column band
        out, _ = self.rnn(self.drop(seq))  # (B, T, 2·hidden)
        return out


class CRNN(nn.Module):
    """CNN → BiLSTM → per-column scores over blank + K symbols (train with CTC).

    Example:
        >>> m = CRNN(num_classes=10, in_channels=1, height=32, channels=8, hidden=16, layers=1)
        >>> m(torch.zeros(2, 1, 32, 64)).shape  # (B, T = W/4, K + 1)
        torch.Size([2, 16, 11])
    """

    def __init__(self, *, num_classes: int, in_channels: int, height: int, channels: int = 32, hidden: int = 128,
                 layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.encoder = LineEncoder(in_channels=in_channels, height=height, channels=channels, hidden=hidden,
                                   layers=layers, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.out_features, num_classes + 1)
        with torch.no_grad():
            # The blank starts as likely as all K symbols together (p = 0.5 instead of 1/(K+1)): most
            # frames of a line are blanks, and a model that must first discover this sits for a hundred
            # or more steps on the all-blank plateau of CTC training (measured: 3-4x fewer steps to CER 0.3).
            self.head.bias[0] += math.log(num_classes)

    def forward(self, x: Tensor) -> Tensor:  # x: (B, C, H, W)
        return self.head(self.drop(self.encoder(x)))  # (B, T, K+1) logits, index 0 = blank


@dataclass
class Memory:
    """The encoded line an attention decoder reads: values (B, T, D), their keys (B, T, A), mask (B, T)."""

    values: Tensor
    keys: Tensor
    mask: Tensor

    def repeat(self, n: int) -> Memory:
        """Each line repeated ``n`` times (for beam search): (B·n, ...)."""
        return Memory(*(t.repeat_interleave(n, 0) for t in (self.values, self.keys, self.mask)))


class AttentionOCR(nn.Module):
    """Line encoder + GRU decoder with additive attention; emits K symbols and end-of-line (id 0).

    ``forward(x, targets)`` teacher-forces the decoder with ``targets`` (B, L) (ids 1..K, 0-padded) and
    returns (B, L + 1, K + 1) logits: step j predicts ``targets[:, j]``, the step after the last symbol
    predicts the end (0). ``forward(x)`` decodes greedily for ``max_length`` + 1 steps (a fixed amount of
    work, for profiling and shape checks); :mod:`trainlab.ocr.decoding` has the stopping greedy and beam
    decoders.

    Example:
        >>> m = AttentionOCR(num_classes=10, in_channels=1, height=32, channels=8, hidden=16, max_length=5)
        >>> m(torch.zeros(2, 1, 32, 64), torch.tensor([[3, 4], [5, 0]])).shape
        torch.Size([2, 3, 11])
        >>> m(torch.zeros(2, 1, 32, 64)).shape
        torch.Size([2, 6, 11])
    """

    def __init__(self, *, num_classes: int, in_channels: int, height: int, channels: int = 32, hidden: int = 128,
                 layers: int = 1, decoder_hidden: int = 128, embedding: int = 32, attention: int = 128,
                 max_length: int = 32, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_classes, self.max_length = num_classes, max_length
        self.start_token = num_classes + 1  # decoder input only
        self.encoder = LineEncoder(in_channels=in_channels, height=height, channels=channels, hidden=hidden,
                                   layers=layers, dropout=dropout)
        d = self.encoder.out_features
        self.embed = nn.Embedding(num_classes + 2, embedding)  # 0 end, 1..K symbols, K+1 start
        self.init_hidden = nn.Linear(d, decoder_hidden)
        self.key = nn.Linear(d, attention, bias=False)
        self.query = nn.Linear(decoder_hidden, attention)
        self.score = nn.Linear(attention, 1, bias=False)
        self.cell = nn.GRUCell(embedding + d, decoder_hidden)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(decoder_hidden + d, num_classes + 1)

    def encode(self, x: Tensor, widths: Tensor | None = None) -> Memory:
        """Encode lines (B, C, H, W); ``widths`` (B,) real pixel widths mask the padding columns."""
        values = self.encoder(x)  # (B, T, D)
        b, t, _ = values.shape
        if widths is None:
            mask = torch.ones(b, t, dtype=torch.bool, device=values.device)
        else:
            mask = torch.arange(t, device=values.device) < frame_lengths(widths.to(values.device), t)[:, None]
        return Memory(values, self.key(values), mask)

    def initial_state(self, memory: Memory) -> Tensor:
        """Decoder state from the mean of the unmasked memory: (B, decoder_hidden)."""
        m = memory.mask.unsqueeze(-1).to(memory.values.dtype)  # (B, T, 1)
        mean = (memory.values * m).sum(1) / m.sum(1).clamp_min(1)  # (B, D)
        return torch.tanh(self.init_hidden(mean))

    def step(self, tokens: Tensor, state: Tensor, memory: Memory) -> tuple[Tensor, Tensor, Tensor]:
        """One decoder step from the previous symbols (B,): logits (B, K+1), new state, attention (B, T)."""
        energy = self.score(torch.tanh(memory.keys + self.query(state)[:, None])).squeeze(-1)  # (B, T)
        weights = energy.masked_fill(~memory.mask, float("-inf")).softmax(-1)  # (B, T)
        context = torch.bmm(weights[:, None], memory.values).squeeze(1)  # (B, D)
        state = self.cell(torch.cat([self.embed(tokens), context], -1), state)  # (B, decoder_hidden)
        logits = self.head(self.drop(torch.cat([state, context], -1)))  # (B, K+1)
        return logits, state, weights

    def forward(self, x: Tensor, targets: Tensor | None = None, widths: Tensor | None = None,
                return_memory: bool = False) -> Tensor | tuple[Tensor, Tensor, Tensor, Tensor]:
        """Logits (B, steps, K+1); with ``return_memory`` also the memory's values, keys and mask (so a
        caller can decode freely without encoding twice, and a DDP wrapper still sees one forward)."""
        memory = self.encode(x, widths)
        state = self.initial_state(memory)
        b = x.shape[0]
        tokens = torch.full((b,), self.start_token, dtype=torch.long, device=x.device)
        steps = targets.shape[1] + 1 if targets is not None else self.max_length + 1
        outputs = []
        for j in range(steps):
            logits, state, _ = self.step(tokens, state, memory)
            outputs.append(logits)
            if targets is not None and j < targets.shape[1]:
                tokens = targets[:, j]  # teacher forcing
            else:
                tokens = logits.argmax(-1)
        logits = torch.stack(outputs, 1)  # (B, steps, K+1)
        return (logits, memory.values, memory.keys, memory.mask) if return_memory else logits


def crnn(*, num_classes: int, in_channels: int, input_size: tuple[int, int], dropout: float = 0.0,
         small_stem: bool = False, **options: Any) -> CRNN:
    """CRNN for CTC; options: channels (32), hidden (128, per LSTM direction), layers (2)."""
    o = take_options("crnn", options, {"channels": 32, "hidden": 128, "layers": 2})
    return CRNN(num_classes=num_classes, in_channels=in_channels, height=int(input_size[0]),
                dropout=dropout, **o)


def attention_ocr(*, num_classes: int, in_channels: int, input_size: tuple[int, int], dropout: float = 0.0,
                  small_stem: bool = False, **options: Any) -> AttentionOCR:
    """Attention decoder; options: channels (32), hidden (128), layers (1), decoder_hidden (128),
    embedding (32), attention (128), max_length (32: the longest line it can emit)."""
    o = take_options("attention_ocr", options, {"channels": 32, "hidden": 128, "layers": 1, "decoder_hidden": 128,
                                                "embedding": 32, "attention": 128, "max_length": 32})
    return AttentionOCR(num_classes=num_classes, in_channels=in_channels,
                        height=int(input_size[0]), dropout=dropout, **o)
