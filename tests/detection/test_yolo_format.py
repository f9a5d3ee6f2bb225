"""The YOLO label format: written and read back exactly, errors that name the file and line."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainlab.detection.yolo_format import label_path, read_labels, read_yolo_dataset, write_yolo_dataset
from trainlab.errors import DataError


@pytest.fixture
def folder(tmp_path, tiny_scenes) -> Path:
    splits, names = tiny_scenes
    write_yolo_dataset(tmp_path / "yolo", splits, names)
    return tmp_path / "yolo"


def test_written_scenes_read_back_with_the_same_boxes(folder, tiny_scenes) -> None:
    splits, names = tiny_scenes
    assert sorted(p.name for p in folder.iterdir()) == ["data.yaml", "images", "labels"]
    read, read_names = read_yolo_dataset(folder)
    assert read_names == names
    for name in ("train", "valid", "test"):
        a, b = splits[name], read[name]
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert torch.allclose(a.boxes, b.boxes, atol=1e-3)  # labels hold 6 decimals of the 0-1 coordinates


def test_images_are_resized_with_their_boxes(folder) -> None:
    read, _ = read_yolo_dataset(folder / "data.yaml", image_size=(32, 96), channels=3)
    orig, _ = read_yolo_dataset(folder)
    assert read["train"].images.shape[1:] == (3, 32, 96)
    scale = torch.tensor([96 / 64, 32 / 64, 96 / 64, 32 / 64])
    assert torch.allclose(read["train"].boxes, orig["train"].boxes * scale, atol=1e-3)


def test_a_yaml_with_names_mapping_lists_and_a_missing_test_split(tmp_path, tiny_scenes) -> None:
    splits, _ = tiny_scenes
    write_yolo_dataset(tmp_path / "d", {"train": splits["train"], "valid": splits["valid"]}, [str(i) for i in range(10)])
    listing = tmp_path / "d" / "train.txt"
    listing.write_text("\n".join(f"images/train/{i:06d}.png" for i in range(5)))
    (tmp_path / "d" / "data.yaml").write_text("train: train.txt\nval: [images/val]\nnames: [" +
                                                ", ".join(f"d{i}" for i in range(10)) + "]\n")
    read, names = read_yolo_dataset(tmp_path / "d")
    assert names[3] == "d3" and len(read["train"]) == 5 and read["test"] is None and len(read["valid"]) == 16


@pytest.mark.parametrize(("line", "message"), [
    ("1 0.5 0.5 0.2", "expected 'class cx cy w h'"),
    ("1 0.5 0.5 0.2 0.2 0.3 0.3", "segmentation polygon"),
    ("x 0.5 0.5 0.2 0.2", "not numbers"),
    ("12 0.5 0.5 0.2 0.2", "class 12 is outside names"),
    ("1 0.95 0.5 0.2 0.2", "reaches outside the image"),
    ("1 0.5 0.5 0 0.2", "must be positive"),
])
def test_a_bad_label_line_names_its_file_and_line(tmp_path, line: str, message: str) -> None:
    path = tmp_path / "labels" / "train" / "a.txt"
    path.parent.mkdir(parents=True)
    path.write_text("0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        read_labels(path, num_classes=10)
    assert f"{path}:2" in str(err.value)


def test_boxes_barely_outside_are_clipped_and_empty_files_are_background(tmp_path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("0 0.1 0.5 0.205 0.2\n")  # x from -0.0025: inside the 0.01 tolerance
    boxes, labels = read_labels(path, num_classes=1)
    assert boxes[0, 0] == 0.0 and labels.tolist() == [0]
    path.write_text("")
    assert read_labels(path, 1)[0].shape == (0, 4) and read_labels(tmp_path / "missing.txt", 1)[1].numel() == 0
    assert label_path(Path("/d/images/x/images/train/a.jpg")) == Path("/d/images/x/labels/train/a.txt")


def test_a_yaml_without_val_or_names_is_refused(tmp_path, folder) -> None:
    (folder / "data.yaml").write_text("train: images/train\nnames: [a]\n")
    with pytest.raises(DataError, match="no 'val' split"):
        read_yolo_dataset(folder)
    (folder / "data.yaml").write_text("train: images/train\nval: images/val\n")
    with pytest.raises(DataError, match="no 'names'"):
        read_yolo_dataset(folder)
    with pytest.raises(DataError, match="needs data.root"):
        read_yolo_dataset(None)
