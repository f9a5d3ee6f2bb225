"""Shared small OCR fixtures: tiny digit-string splits are made once per session (sklearn import ~1 s)."""
from __future__ import annotations

import pytest

from trainlab.ocr.digit_strings import DigitStringOptions, digit_string_splits


@pytest.fixture(scope="session")
def tiny_digit_splits():
    """Train/valid/test of 48/16/16 lines, height 16, 1-5 digits."""
    options = DigitStringOptions(height=16, lines=(48, 16, 16), max_length=5)
    return digit_string_splits(seed=3, valid_fraction=0.1, test_fraction=0.2, options=options)
