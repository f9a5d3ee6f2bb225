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
from ..lazy import lazy_exports

# imported on first use: loading the feature's registration (every params file does) stays cheap
lazy_exports(__name__, {
    ".alphabet": ["Alphabet"],
    ".augment": ["LineAugment"],
    ".ctc": ["Decoded", "ctc_beam_decode", "ctc_greedy_decode", "ctc_sequence_probability"],
    ".data": ["LineLoader", "LineSplit", "LineTargets", "line_bundle", "pad_lines"],
    ".decoding": ["attention_beam_decode", "attention_greedy_decode"],
    ".lm": ["CharNGramLM"],
    ".metrics": ["SequenceMetrics", "batched_edit_distance", "character_error_rate", "edit_distance",
                 "sequence_accuracy", "word_error_rate"],
    ".models": ["CRNN", "AttentionOCR", "LineEncoder"],
    ".task": ["AttentionTask", "CTCTask", "SequenceOutput", "per_line", "task_factory"],
})
