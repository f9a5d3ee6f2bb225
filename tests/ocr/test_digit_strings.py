"""The built-in digit-strings dataset: disjoint source images per split, labels, determinism, options."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trainlab.errors import DataError
from trainlab.ocr.digit_strings import DIGITS, DigitStringOptions, digit_string_splits, make_texts


def test_splits_share_no_source_image(tiny_digit_splits) -> None:
    sources = {name: set(s.sources[s.sources >= 0].tolist()) for name, s in tiny_digit_splits.items()}
    assert all(sources.values())
    assert not sources["train"] & sources["valid"]
    assert not sources["train"] & sources["test"]
    assert not sources["valid"] & sources["test"]


def test_every_character_is_an_image_of_its_digit(tiny_digit_splits) -> None:
    from sklearn.datasets import load_digits

    target = torch.from_numpy(load_digits().target)
    for split in tiny_digit_splits.values():
        valid = split.sources >= 0
        assert torch.equal(valid, split.labels > 0)  # one source per character
        assert torch.equal(target[split.sources[valid]] + 1, split.labels[valid])  # id = digit + 1


def test_lines_have_the_asked_lengths_height_and_real_widths(tiny_digit_splits) -> None:
    train = tiny_digit_splits["train"]
    assert train.images.shape[2] == 16 and len(train) == 48
    assert int(train.lengths.min()) >= 1 and int(train.lengths.max()) <= 5
    for i in range(len(train)):  # ink inside each line's width, only padding after it
        w = int(train.widths[i])
        assert int(train.images[i, :, :, :w].max()) > 100 and int(train.images[i, :, :, w:].sum()) == 0
    assert all(t.isdigit() for t in train.texts(DIGITS))


def test_same_seed_same_lines_other_seed_other_lines() -> None:
    o = DigitStringOptions(height=16, lines=(6, 2, 2))
    a = digit_string_splits(seed=1, valid_fraction=0.1, test_fraction=0.2, options=o)["train"]
    b = digit_string_splits(seed=1, valid_fraction=0.1, test_fraction=0.2, options=o)["train"]
    c = digit_string_splits(seed=2, valid_fraction=0.1, test_fraction=0.2, options=o)["train"]
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, c.labels)


def test_structured_texts_are_more_predictable_than_uniform() -> None:
    from trainlab.ocr.lm import CharNGramLM

    rng = np.random.default_rng(0)
    perplexity = {}
    for kind in ("structured", "uniform"):
        train, held_out = make_texts(kind, rng, 600, 1, 8), make_texts(kind, rng, 200, 1, 8)
        assert all(1 <= len(t) <= 8 and t.isdigit() for t in train + held_out)
        lm = CharNGramLM.fit([DIGITS.encode(t) for t in train], order=4, num_symbols=10)
        perplexity[kind] = lm.perplexity([DIGITS.encode(t) for t in held_out])
    assert perplexity["structured"] < 0.75 * perplexity["uniform"]  # an LM has something to learn


@pytest.mark.parametrize(("args", "words"), [
    ({"hieght": 32}, "unknown data.args"), ({"height": 8}, ">= 16"), ({"min_length": 0}, "min_length"),
    ({"lines": [10, 0, 1]}, "positive"), ({"text": "words"}, "structured"), ({"scale": [0.9, 0.5]}, "scale"),
])
def test_bad_options_raise_with_the_allowed_values(args, words) -> None:
    with pytest.raises(DataError, match=words):
        DigitStringOptions.from_args(args)
