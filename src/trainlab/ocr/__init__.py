"""OCR benchmark models: CRNN with CTC, an attention decoder with a character LM, CER/WER metrics.

:mod:`trainlab.ocr.feature` registers the models ``crnn`` and ``attention_ocr`` for
:func:`trainlab.models.build_model`, the datasets ``digit-strings`` and ``text-lines`` for ``data.name``,
and the ``ocr`` params section.

Ids: symbols of an alphabet of K characters are 1..K; 0 is the CTC blank, the attention decoder's end of
line and the padding of label tensors. Models built for ``num_classes=K`` output K + 1 scores.

Example:
    >>> import torch
    >>> from trainlab.ocr import CRNN, CTCTask, character_error_rate
    >>> model = CRNN(num_classes=10, in_channels=1, height=16, channels=4, hidden=8, layers=1)
    >>> CTCTask().decode(model.eval(), torch.zeros(2, 1, 16, 40)).tokens.shape[0]
    2
    >>> character_error_rate(["1234"], ["1284"])
    0.25
"""
from .alphabet import Alphabet
from .augment import LineAugment
from .ctc import Decoded, ctc_beam_decode, ctc_greedy_decode, ctc_sequence_probability
from .data import LineLoader, LineSplit, LineTargets, line_bundle, pad_lines
from .decoding import attention_beam_decode, attention_greedy_decode
from .lm import CharNGramLM
from .metrics import (SequenceMetrics, batched_edit_distance, character_error_rate, edit_distance,
                      sequence_accuracy, word_error_rate)
from .models import CRNN, AttentionOCR, LineEncoder
from .task import AttentionTask, CTCTask, SequenceOutput, per_line, task_factory

__all__ = [
    "CRNN", "Alphabet", "AttentionOCR", "AttentionTask", "CTCTask", "CharNGramLM", "Decoded",
    "LineAugment", "LineEncoder", "LineLoader", "LineSplit", "LineTargets", "SequenceMetrics", "SequenceOutput",
    "attention_beam_decode", "attention_greedy_decode", "batched_edit_distance", "character_error_rate",
    "ctc_beam_decode", "ctc_greedy_decode", "ctc_sequence_probability", "edit_distance", "line_bundle",
    "pad_lines", "per_line", "sequence_accuracy", "task_factory", "word_error_rate",
]
