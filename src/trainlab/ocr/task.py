"""The OCR Tasks the Learner trains with, and the datasets that bring them.

A Task tells the task-agnostic :class:`trainlab.engine.Learner` what the model's output means:
``forward(net, x, y)`` runs the model (the attention model is teacher-forced with ``y``) and decodes
the lines, ``loss(out, y)`` gives a per-line loss (B,), ``metrics()`` accumulates CER / WER / sequence
accuracy. While training, lines are decoded greedily on the device (cheap, no host sync); in
evaluation, with the configured decoder (greedy or beam search, optionally fused with a character LM
trained on the training labels).

:data:`trainlab.data.TASK_DATASETS` maps a ``data.name`` to a builder returning the
:class:`DataBundle` and a function model → Task (``digit_strings`` and ``text_lines`` here, registered by
:mod:`trainlab.ocr.feature`) (the Task depends on the model: CTC for CRNN-like
models, teacher forcing for attention).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import DataBundle
from ..engine.task import ExportGraph, Task
from ..errors import ConfigError
from ..images import NORMALIZE_UNIT
from .alphabet import Alphabet
from .ctc import Decoded, ctc_beam_decode, ctc_greedy_decode
from .data import LineSplit, LineTargets, line_bundle
from .decoding import attention_beam_decode, attention_greedy_decode
from .lm import CharNGramLM
from .metrics import SequenceMetrics, batched_edit_distance
from .models import WIDTH_STRIDE, AttentionOCR, Memory, frame_lengths

log = logging.getLogger(__name__)


@dataclass
class SequenceOutput:
    """What a Task's forward returns: the scores the loss needs and the decoded lines the metrics read.

    logits: CTC (B, T, K+1) per frame, attention (B, L+1, K+1) per teacher-forced step; frames: (B,)
    valid frames per line (CTC); tokens (B, L') decoded ids 0-padded, lengths (B,), confidence (B, L').
    """

    logits: Tensor
    frames: Tensor | None
    tokens: Tensor
    lengths: Tensor
    confidence: Tensor | None = None


def _unwrap(net: nn.Module) -> nn.Module:
    """The model inside torch.compile's wrapper (``_orig_mod``) and DistributedDataParallel (``module``)."""
    while hasattr(net, "_orig_mod") or isinstance(net, nn.parallel.DistributedDataParallel):
        net = net._orig_mod if hasattr(net, "_orig_mod") else net.module
    return net


def per_line(output: SequenceOutput, target: LineTargets) -> dict[str, Tensor]:
    """Per-line results for paired comparisons of two models: character ``edits`` (B,), reference
    ``chars`` (B,) and ``correct`` (B,) (the line read exactly).

    Example:
        >>> out = SequenceOutput(torch.zeros(2, 1, 3), None, torch.tensor([[1, 2], [2, 0]]), torch.tensor([2, 1]))
        >>> y = LineTargets(torch.tensor([[1, 2], [1, 0]]), torch.tensor([2, 1]), torch.tensor([8, 8]))
        >>> {k: v.tolist() for k, v in per_line(out, y).items()}
        {'edits': [0, 1], 'chars': [2, 1], 'correct': [True, False]}
    """
    edits = batched_edit_distance(output.tokens, output.lengths, target.labels, target.lengths)
    return {"edits": edits, "chars": target.lengths, "correct": edits == 0}


# lines batched for the model: (B, C, H, W) with W any multiple of the encoder's step, and their real widths
_LINE_AXES = {0: ("batch", 1), 3: ("width", WIDTH_STRIDE)}
_BATCH = {0: ("batch", 1)}
_FRAMES = {0: ("batch", 1), 1: ("frames", 1)}


class _LineTask(Task):
    """What the CTC and attention Tasks share: decoder settings, sequence metrics, per-line predictions, and
    how a line image file is read (``max_width``, ``invert``: see :class:`trainlab.ocr.text_lines.TextLineOptions`)."""

    def __init__(self, *, space_id: int | None = None, decoder: str = "greedy", beam_width: int = 8,
                 lm: CharNGramLM | None = None, lm_weight: float = 0.0, length_bonus: float = 0.0,
                 max_width: int = 1024, invert: str | bool = "auto") -> None:
        self.space_id, self.decoder, self.beam_width = space_id, decoder, beam_width
        self.lm, self.lm_weight, self.length_bonus = lm, lm_weight, length_bonus
        self.max_width, self.invert = max_width, invert

    def metrics(self) -> SequenceMetrics:
        return SequenceMetrics(space_id=self.space_id)

    def predictions(self, output: SequenceOutput, target: LineTargets) -> dict[str, Tensor]:
        """Per-line edits, reference length and exactness (see :func:`per_line`)."""
        return per_line(output, target)

    def decode(self, model: nn.Module, x: Tensor, widths: Tensor | None = None, *, greedy: bool = False) -> Decoded:
        raise NotImplementedError

    def batch_widths(self, target: LineTargets) -> Tensor:
        return target.widths

    def preprocessing(self, data: DataBundle) -> dict[str, Any]:
        """Lines as ``text-lines`` reads them: greyscale, the line height keeping the aspect ratio, ink high,
        a batch right-padded with background to a multiple of the encoder's step; the lines' normalization."""
        c, h, _ = data.input_shape
        return {"resize": "height", "height": int(h), "max_width": self.max_width, "width_multiple": WIDTH_STRIDE,
                "pad_value": 0, "invert": self.invert, "interpolation": "bilinear", "channels": int(c),
                "channel_order": "L" if c == 1 else "RGB", "mean": [float(v) for v in data.mean],
                "std": [float(v) for v in data.std], "normalize": NORMALIZE_UNIT, "layout": "NCHW"}

    @torch.no_grad()
    def answers(self, model: nn.Module, x: Tensor, widths: Tensor | None = None, *, greedy: bool = False
                ) -> list[dict[str, np.ndarray]]:
        """``{"tokens": ids (L,), "confidence": per character (L,)}`` per line (beam search gives no
        confidences: an empty array)."""
        d = self.decode(model, x, widths, greedy=greedy)
        tokens, lengths = d.tokens.cpu().numpy(), d.lengths.cpu().tolist()
        conf = d.confidence.float().cpu().numpy() if d.confidence is not None else None
        return [{"tokens": tokens[i, :n], "confidence": conf[i, :n] if conf is not None else np.zeros(0, np.float32)}
                for i, n in enumerate(lengths)]

    def _bundle_decoder(self) -> str:
        if self.decoder != "greedy" or (self.lm is not None and self.lm_weight) or self.length_bonus:
            log.warning("an exported bundle decodes greedily without a language model; this run decodes with "
                        "ocr.decoder %s (lm_weight %s, length_bonus %s), so the bundle's lines can differ from "
                        "evaluate's", self.decoder, self.lm_weight, self.length_bonus)
        return "greedy"


class CTCTask(_LineTask):
    """CTC loss (``torch.nn.CTCLoss``, blank 0) per line, divided by the label length (the "mean" mode).

    Example:
        >>> from trainlab.ocr.models import CRNN
        >>> model = CRNN(num_classes=3, in_channels=1, height=16, channels=4, hidden=8, layers=1)
        >>> y = LineTargets(torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1]), torch.tensor([40, 24]))
        >>> task = CTCTask()
        >>> out = task.forward(model, torch.randn(2, 1, 16, 40), y)
        >>> task.loss(out, y).shape, out.tokens.shape[0]
        (torch.Size([2]), 2)
    """

    kind = "ocr-ctc"

    def __init__(self, *, space_id: int | None = None, decoder: str = "greedy", beam_width: int = 8,
                 lm: CharNGramLM | None = None, lm_weight: float = 0.0, length_bonus: float = 0.0,
                 max_width: int = 1024, invert: str | bool = "auto") -> None:
        if decoder == "greedy" and ((lm is not None and lm_weight) or length_bonus):
            raise ConfigError("CTC greedy decoding reads the best path and cannot use a language model or a "
                              "length bonus; set ocr.decoder: beam, or ocr.lm_weight and ocr.length_bonus to 0.")
        super().__init__(space_id=space_id, decoder=decoder, beam_width=beam_width, lm=lm, lm_weight=lm_weight,
                         length_bonus=length_bonus, max_width=max_width, invert=invert)

    def decode_logits(self, logits: Tensor, frames: Tensor | None, *, fast: bool = False) -> Decoded:
        """Lines from (B, T, K+1) scores: greedy when ``fast`` or configured, else beam (+ LM)."""
        if fast or self.decoder == "greedy":
            return ctc_greedy_decode(logits, frames)
        return ctc_beam_decode(logits, frames, beam_width=self.beam_width, lm=self.lm, lm_weight=self.lm_weight,
                               length_bonus=self.length_bonus)

    def forward(self, model: nn.Module, x: Tensor, target: LineTargets | None) -> SequenceOutput:
        logits = model(x)  # (B, T, K+1)
        frames = frame_lengths(target.widths, logits.shape[1]) if target is not None else None
        with torch.no_grad():
            d = self.decode_logits(logits.detach(), frames, fast=model.training)
        return SequenceOutput(logits, frames, d.tokens, d.lengths, d.confidence)

    def loss(self, output: SequenceOutput, target: LineTargets) -> Tensor:
        log_probs = output.logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, K+1)
        nll = F.ctc_loss(log_probs, target.labels, output.frames, target.lengths, blank=0, reduction="none",
                         zero_infinity=True)  # a line too long for its width counts 0, not inf
        return nll / target.lengths.clamp_min(1)  # (B,)

    @torch.no_grad()
    def decode(self, model: nn.Module, x: Tensor, widths: Tensor | None = None, *, greedy: bool = False) -> Decoded:
        """Read lines (B, C, H, W) (normalized like the data) with the configured decoder (``greedy``: best path)."""
        logits = model(x)
        frames = frame_lengths(widths.to(logits.device), logits.shape[1]) if widths is not None else None
        return self.decode_logits(logits, frames, fast=greedy)

    def export_graphs(self, model: nn.Module, x: Tensor, widths: Tensor | None = None) -> list[ExportGraph]:
        """One graph ``model``: lines (width any multiple of 4) → per-frame ``log_probs`` (B, T, K+1); the host
        decodes them (frames past a line's width ignored)."""
        return [ExportGraph("model", _LogProbs(_unwrap(model)), (x,), ["image"], ["log_probs"],
                            {"image": _LINE_AXES, "log_probs": _FRAMES})]

    def bundle_settings(self, model: nn.Module) -> dict[str, Any]:
        return {"blank": 0, "width_stride": WIDTH_STRIDE, "decoder": self._bundle_decoder()}


class _LogProbs(nn.Module):
    """A CTC model's per-frame log-probabilities (B, T, K+1), what an exported bundle's graph computes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x).float().log_softmax(-1)


class AttentionTask(_LineTask):
    """Teacher-forced cross-entropy over the symbols and the end of line, averaged per line.

    Example:
        >>> model = AttentionOCR(num_classes=3, in_channels=1, height=16, channels=4, hidden=8, max_length=4)
        >>> y = LineTargets(torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1]), torch.tensor([40, 24]))
        >>> task = AttentionTask()
        >>> out = task.forward(model, torch.randn(2, 1, 16, 40), y)
        >>> out.logits.shape, task.loss(out, y).shape
        (torch.Size([2, 3, 4]), torch.Size([2]))
    """

    kind = "ocr-attention"

    def __init__(self, *, space_id: int | None = None, decoder: str = "greedy", beam_width: int = 8,
                 lm: CharNGramLM | None = None, lm_weight: float = 0.0, length_bonus: float = 0.0,
                 label_smoothing: float = 0.0, max_width: int = 1024, invert: str | bool = "auto") -> None:
        super().__init__(space_id=space_id, decoder=decoder, beam_width=beam_width, lm=lm, lm_weight=lm_weight,
                         length_bonus=length_bonus, max_width=max_width, invert=invert)
        self.label_smoothing = label_smoothing

    def decode_memory(self, model: AttentionOCR, memory: Memory, *, fast_steps: int | None = None,
                      greedy: bool = False) -> Decoded:
        """Lines from encoded memory: ``fast_steps`` set → greedy for that many symbols without host
        syncs (training metrics); ``greedy``: greedy without the LM; else the configured decoder with the LM."""
        if fast_steps is not None:
            return attention_greedy_decode(model, memory, max_length=fast_steps, stop_early=False)
        if greedy:
            return attention_greedy_decode(model, memory)
        if self.decoder == "greedy":
            return attention_greedy_decode(model, memory, lm=self.lm, lm_weight=self.lm_weight,
                                           length_bonus=self.length_bonus)
        return attention_beam_decode(model, memory, beam_width=self.beam_width, lm=self.lm, lm_weight=self.lm_weight,
                                     length_bonus=self.length_bonus)

    def forward(self, model: nn.Module, x: Tensor, target: LineTargets) -> SequenceOutput:
        logits, values, keys, mask = model(x, target.labels, target.widths, return_memory=True)
        inner: AttentionOCR = _unwrap(model)
        memory = Memory(values.detach(), keys.detach(), mask)
        # training metrics: a few symbols past the longest label are enough to count an overlong line wrong
        fast = min(inner.max_length, target.labels.shape[1] + 4) if model.training else None
        was_training = inner.training
        inner.eval()  # decode without dropout
        try:
            d = self.decode_memory(inner, memory, fast_steps=fast)
        finally:
            inner.train(was_training)
        return SequenceOutput(logits, None, d.tokens, d.lengths, d.confidence)

    def loss(self, output: SequenceOutput, target: LineTargets) -> Tensor:
        b, steps, _ = output.logits.shape
        wanted = F.pad(target.labels, (0, steps - target.labels.shape[1]))  # (B, L+1): the end (0) follows
        ce = F.cross_entropy(output.logits.float().transpose(1, 2), wanted, reduction="none",
                             label_smoothing=self.label_smoothing)  # (B, L+1)
        counted = torch.arange(steps, device=ce.device) <= target.lengths[:, None]  # symbols + the end
        return (ce * counted).sum(1) / (target.lengths + 1)

    @torch.no_grad()
    def decode(self, model: nn.Module, x: Tensor, widths: Tensor | None = None, *, greedy: bool = False) -> Decoded:
        """Read lines (B, C, H, W) (normalized like the data) with the configured decoder (``greedy``: greedy,
        no LM)."""
        inner: AttentionOCR = _unwrap(model)
        return self.decode_memory(inner, inner.encode(x, widths), greedy=greedy)

    def export_graphs(self, model: nn.Module, x: Tensor, widths: Tensor | None = None) -> list[ExportGraph]:
        """Two graphs, looped by the host: ``encoder`` (lines and their widths → the memory and the decoder's
        first state) and ``decoder_step`` (previous symbols, state, memory → log-probabilities of the next
        symbol (B, K+1) and the next state)."""
        inner: AttentionOCR = _unwrap(model)
        widths = widths if widths is not None else torch.full((len(x),), x.shape[-1], dtype=torch.long)
        encoder = _Encoder(inner)
        with torch.no_grad():
            values, keys, mask, state = encoder(x, widths)
        tokens = torch.full((len(x),), inner.start_token, dtype=torch.long)
        memory = {"values": _FRAMES, "keys": _FRAMES, "mask": _FRAMES}
        return [ExportGraph("encoder", encoder, (x, widths), ["image", "widths"], ["values", "keys", "mask", "state"],
                            {"image": _LINE_AXES, "widths": _BATCH, **memory, "state": _BATCH}),
                ExportGraph("decoder_step", _Step(inner), (tokens, state, values, keys, mask),
                            ["tokens", "state", "values", "keys", "mask"], ["log_probs", "next_state"],
                            {"tokens": _BATCH, "state": _BATCH, **memory, "log_probs": _BATCH, "next_state": _BATCH})]

    def bundle_settings(self, model: nn.Module) -> dict[str, Any]:
        inner: AttentionOCR = _unwrap(model)
        return {"start_token": inner.start_token, "end_token": 0, "max_length": inner.max_length,
                "decoder": self._bundle_decoder()}


class _Encoder(nn.Module):
    """The attention model's encoder as a graph: lines, widths → values, keys, mask, first decoder state."""

    def __init__(self, model: AttentionOCR) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        memory = self.model.encode(x, widths)
        return memory.values, memory.keys, memory.mask, self.model.initial_state(memory)


class _Step(nn.Module):
    """One decoder step as a graph: previous symbols (B,), state, memory → log-probabilities (B, K+1), state."""

    def __init__(self, model: AttentionOCR) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, state: Tensor, values: Tensor, keys: Tensor, mask: Tensor
                ) -> tuple[Tensor, Tensor]:
        logits, state, _ = self.model.step(tokens, state, Memory(values, keys, mask))
        return logits.float().log_softmax(-1), state


LineTask = CTCTask | AttentionTask
TaskFactory = Callable[[nn.Module], LineTask]


def task_factory(train: LineSplit, alphabet: Alphabet, *, decoder: str = "greedy", beam_width: int = 8,
                 lm_order: int = 0, lm_weight: float = 0.0, length_bonus: float = 0.0,
                 label_smoothing: float = 0.0, reading: dict[str, Any] | None = None) -> TaskFactory:
    """model → its Task; a character LM of ``lm_order`` is trained on ``train``'s labels when asked for;
    ``reading``: how line files are read (``max_width``, ``invert``) for ``trainlab predict``."""
    if lm_weight and not lm_order:
        raise ConfigError(f"ocr.lm_weight is {lm_weight} but ocr.lm_order is 0 (no LM); set ocr.lm_order "
                          "(e.g. 4) or ocr.lm_weight: 0.")
    lm = None
    if lm_order:
        sequences = [row[:n] for row, n in zip(train.labels.tolist(), train.lengths.tolist())]
        lm = CharNGramLM.fit(sequences, order=lm_order, num_symbols=len(alphabet))
        log.info("character %d-gram LM: %d states, training perplexity %.2f", lm_order, len(lm.contexts),
                 lm.perplexity(sequences))
    common = dict(space_id=alphabet.space_id, decoder=decoder, beam_width=beam_width, lm=lm, lm_weight=lm_weight,
                  length_bonus=length_bonus, **(reading or {}))

    def make(model: nn.Module) -> LineTask:
        if isinstance(_unwrap(model), AttentionOCR):
            return AttentionTask(label_smoothing=label_smoothing, **common)
        return CTCTask(**common)

    return make


def _bundle_and_task(cfg: Any, splits: dict[str, LineSplit | None], alphabet: Alphabet, bucket: int, *, seed: int,
                     device: Any, rank: int, world_size: int, reading: dict[str, Any] | None = None
                     ) -> tuple[DataBundle, TaskFactory]:
    d, o = cfg.data, getattr(cfg, "ocr", None)
    train = splits["train"]
    if d.max_train_samples and d.max_train_samples < len(train):
        gen = torch.Generator().manual_seed(d.seed_for_splits(seed))
        keep = torch.randperm(len(train), generator=gen)[: d.max_train_samples]
        train = train.take(keep.sort().values)
    data = line_bundle(train, splits["valid"], splits.get("test"), alphabet, batch_size=d.batch_size,
                       eval_batch_size=d.eval_batch_size, augment=d.augment, bucket=bucket, seed=seed, device=device,
                       rank=rank, world_size=world_size, mean=d.mean, std=d.std)
    options = dict(decoder=o.decoder, beam_width=o.beam_width, lm_order=o.lm_order, lm_weight=o.lm_weight,
                   length_bonus=o.length_bonus) if o else {}
    return data, task_factory(train, alphabet, label_smoothing=cfg.train.label_smoothing, reading=reading, **options)


def digit_strings(cfg: Any, *, seed: int, device: Any = "cpu", rank: int = 0, world_size: int = 1
                  ) -> tuple[DataBundle, TaskFactory]:
    """Lines of scikit-learn's handwritten digits (see :mod:`trainlab.ocr.digit_strings`), no files."""
    from .digit_strings import DIGITS, DigitStringOptions, digit_string_splits

    o = DigitStringOptions.from_args(dict(cfg.data.args))
    splits = digit_string_splits(seed=cfg.data.seed_for_splits(seed), valid_fraction=cfg.data.valid_fraction,
                                 test_fraction=cfg.data.test_fraction, options=o)
    return _bundle_and_task(cfg, splits, DIGITS, o.bucket, seed=seed, device=device, rank=rank,
                            world_size=world_size)


def text_lines(cfg: Any, *, seed: int, device: Any = "cpu", rank: int = 0, world_size: int = 1
               ) -> tuple[DataBundle, TaskFactory]:
    """A folder of line images with labels.tsv (see :mod:`trainlab.ocr.text_lines`)."""
    from .text_lines import TextLineOptions, text_line_splits

    o = TextLineOptions.from_args(dict(cfg.data.args))
    splits, alphabet = text_line_splits(cfg.data.root, seed=cfg.data.seed_for_splits(seed), valid_fraction=cfg.data.valid_fraction,
                                        test_fraction=cfg.data.test_fraction, options=o)
    return _bundle_and_task(cfg, splits, alphabet, o.bucket, seed=seed, device=device, rank=rank,
                            world_size=world_size, reading={"max_width": o.max_width, "invert": o.invert})
