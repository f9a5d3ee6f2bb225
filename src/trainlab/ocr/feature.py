"""What trainlab.ocr adds: the ``ocr`` params section, the crnn and attention_ocr models, and the
digit-strings and text-lines datasets (each with its sequence Task). Imported lazily, so parsing a
params file does not import the OCR code."""
from __future__ import annotations

from ..config import register_section
from ..data import TASK_DATASETS
from ..models import MODELS
from .config import OcrConfig

register_section("ocr", OcrConfig)
MODELS.register_lazy("crnn", "trainlab.ocr.models:crnn")
MODELS.register_lazy("attention_ocr", "trainlab.ocr.models:attention_ocr")
TASK_DATASETS.register_lazy("digit-strings", "trainlab.ocr.task:digit_strings")
TASK_DATASETS.register_lazy("text-lines", "trainlab.ocr.task:text_lines")
