"""The text-lines dataset: a folder of images + labels.tsv, alphabets, inversion, layouts and errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainlab.config import parse_config
from trainlab.errors import DataError
from trainlab.data import TASK_DATASETS
from trainlab.ocr.text_lines import TextLineOptions, text_line_splits


def write_lines(folder: Path, texts: list[str], *, height: int = 24, dark_on_light: bool = True) -> None:
    """One PNG per text: a bar per character (width grows with the character code), like handwriting."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, text in enumerate(texts):
        a = np.zeros((height, 6 + 7 * len(text)), dtype=np.uint8)
        for j, ch in enumerate(text):
            a[4 : height - 4, 4 + 7 * j : 4 + 7 * j + 1 + ord(ch) % 4] = 255
        Image.fromarray(255 - a if dark_on_light else a).save(folder / f"line{i}.png")
        rows.append(f"line{i}.png\t{text}")
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_one_folder_is_split_and_lines_are_normalized(tmp_path) -> None:
    texts = [f"ab {i % 7}" for i in range(20)]
    write_lines(tmp_path, texts, height=24)
    splits, alphabet = text_line_splits(str(tmp_path), seed=0, valid_fraction=0.2, test_fraction=0.2,
                                        options=TextLineOptions(height=16))
    assert alphabet.symbols == sorted(set("".join(texts)))
    assert [len(splits[k]) for k in ("train", "valid", "test")] == [13, 3, 4]  # test: 20 × 0.2, valid: 16 × 0.2 rounded
    train = splits["train"]
    assert train.images.shape[2] == 16
    got = sorted(train.texts(alphabet) + splits["valid"].texts(alphabet) + splits["test"].texts(alphabet))
    assert got == sorted(texts)
    # dark ink on light paper is inverted: the background (and so the padding) is 0, ink is high
    assert int(train.images[0, 0, 0, : int(train.widths[0])].max()) < 60
    assert int(train.images[0].max()) > 200
    # the width follows the aspect ratio: 6 + 7 * 4 = 34 px at height 24 -> ~23 px at height 16
    assert abs(int(train.widths[0]) - round(34 * 16 / 24)) <= 1


def test_given_splits_alphabet_file_and_unknown_characters(tmp_path) -> None:
    write_lines(tmp_path / "train", ["ab", "ba", "aab", "b"], dark_on_light=False)
    write_lines(tmp_path / "test", ["abc"], dark_on_light=False)
    with pytest.raises(DataError, match=r"\['c'\].*alphabet.txt"):
        text_line_splits(str(tmp_path), seed=0, valid_fraction=0.25, test_fraction=0.2)
    (tmp_path / "alphabet.txt").write_text("abc", encoding="utf-8")
    splits, alphabet = text_line_splits(str(tmp_path), seed=0, valid_fraction=0.25, test_fraction=0.2)
    assert alphabet.symbols == ["a", "b", "c"]
    assert (len(splits["train"]), len(splits["valid"]), len(splits["test"])) == (3, 1, 1)
    assert splits["test"].texts(alphabet) == ["abc"]


@pytest.mark.parametrize(("content", "words"), [("nofile.png\tab", "does not exist"), ("no tab here", "TAB"),
                                                ("", "no lines")])
def test_bad_labels_files(tmp_path, content, words) -> None:
    (tmp_path / "labels.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=words):
        text_line_splits(str(tmp_path), seed=0, valid_fraction=0.2, test_fraction=0.2)


def test_missing_root_and_options() -> None:
    with pytest.raises(DataError, match="data.root"):
        text_line_splits(None, seed=0, valid_fraction=0.1, test_fraction=0.1)
    with pytest.raises(DataError, match="labels.tsv"):
        text_line_splits("/nonexistent/folder", seed=0, valid_fraction=0.1, test_fraction=0.1)
    with pytest.raises(DataError, match="unknown data.args"):
        TextLineOptions.from_args({"heigth": 32})


def test_registered_builder_gives_a_bundle_and_a_task(tmp_path) -> None:
    write_lines(tmp_path, [f"{i % 10} {i % 3}" for i in range(30)])
    cfg = parse_config({"data": {"name": "text-lines", "root": str(tmp_path), "batch_size": 4,
                                 "args": {"height": 16}}, "ocr": {"decoder": "beam", "lm_order": 2, "lm_weight": 0.2}})
    data, make_task = TASK_DATASETS.get("text-lines")(cfg, seed=0)
    assert " " in data.class_names and data.input_shape[:2] == (1, 16)
    x, y = next(data.train.batches(0))
    assert x.shape[0] == 4 and len(y) == 4
    from trainlab.ocr.models import CRNN

    task = make_task(CRNN(num_classes=len(data.class_names), in_channels=1, height=16, channels=4, hidden=8))
    assert task.decoder == "beam" and task.lm is not None and task.space_id == data.class_names.index(" ") + 1
