"""The YOLO label format: written and read back exactly, errors that name the file and line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
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


# --------------------------------------------------------------------------- nothing silent (issue 28)

@pytest.mark.parametrize(("yaml_names", "message"), [
    ("names: {zero: a, one: b}", "names key 'zero' is not a class index"),
    ("nc: three", "nc must be a whole number of classes, got 'three'"),
    ("names: {0: a, 2: b}", "keyed 0..1"),
    ("names: a", "must be a list or a mapping"),
    ("names: [a, b]\nnc: 3", "nc is 3 but names has 2"),
])
def test_bad_names_or_nc_are_one_line_errors_naming_data_yaml(folder, yaml_names, message) -> None:
    (folder / "data.yaml").write_text(f"train: images/train\nval: images/val\n{yaml_names}\n")
    with pytest.raises(DataError, match=message) as err:
        read_yolo_dataset(folder)
    assert str(folder / "data.yaml") in str(err.value)
    quoted = ", ".join(f"'{i}': d{i}" for i in range(10))
    (folder / "data.yaml").write_text(f"train: images/train\nval: images/val\nnames: {{{quoted}}}\n")
    assert read_yolo_dataset(folder)[1][:2] == ["d0", "d1"]  # quoted digits are indices too


@pytest.mark.parametrize(("line", "named"), [("0 nan 0.5 0.2 0.2", "cx=nan"), ("0 0.5 0.5 inf 0.2", "w=inf")])
def test_a_non_finite_value_is_named(tmp_path, line, named) -> None:
    path = tmp_path / "a.txt"
    path.write_text(line + "\n")
    with pytest.raises(DataError, match="must be finite numbers") as err:
        read_labels(path, num_classes=1)
    assert named in str(err.value) and "positive" not in str(err.value)


def test_a_split_without_labels_or_boxes_is_an_error_and_background_images_are_counted(folder, caplog) -> None:
    import shutil

    shutil.rmtree(folder / "labels" / "test")
    with pytest.raises(DataError, match="none of the 16 test images has a label file") as err:
        read_yolo_dataset(folder)
    assert "labels/test does not exist" in str(err.value)  # (a long tmp path loses its leading folders)
    (folder / "labels" / "test").mkdir()
    for i in range(16):
        (folder / "labels" / "test" / f"{i:06d}.txt").write_text("")
    with pytest.raises(DataError, match="the 16 test images have no boxes at all"):
        read_yolo_dataset(folder)
    (folder / "labels" / "test" / "000000.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    for i in (3, 5):
        (folder / "labels" / "train" / f"{i:06d}.txt").unlink()
    with caplog.at_level("INFO", logger="trainlab"):
        read, _ = read_yolo_dataset(folder)
    said = [r.getMessage() for r in caplog.records if "background" in r.getMessage()]
    assert said == [f"yolo-folder: 2 of 48 train images have no label file and are read as background (no boxes), "
                    f"e.g. {folder / 'images' / 'train' / '000003.png'}"]
    assert read["train"].counts[3] == 0 and read["test"].counts.sum() == 1


def test_channels_come_from_the_whole_dataset_and_the_choice_is_logged(folder, caplog) -> None:
    from PIL import Image

    first = folder / "images" / "train" / "000000.png"  # grayscale, like every image so far
    with caplog.at_level("INFO", logger="trainlab"):
        assert read_yolo_dataset(folder)[0]["train"].images.shape[1] == 1
    assert any("as 1 channel (grayscale): 80 of 80 images" in r.getMessage() for r in caplog.records)
    colour = folder / "images" / "val" / "000004.png"
    with Image.open(colour) as img:
        img.convert("RGB").save(colour)
    caplog.clear()
    with caplog.at_level("INFO", logger="trainlab"):
        read, _ = read_yolo_dataset(folder)
    assert read["train"].images.shape[1] == 3 and Image.open(first).mode == "L"
    assert any("as 3 channels (RGB): 1 of 80 images are colour" in r.getMessage() for r in caplog.records)
    assert read_yolo_dataset(folder, channels=1)[0]["valid"].images.shape[1] == 1


def test_exif_orientation_puts_the_box_on_the_object(tmp_path) -> None:
    """A phone photo stored sideways: the box is drawn on the picture as a viewer shows it (white top half)."""
    from PIL import Image

    images, labels = tmp_path / "images" / "train", tmp_path / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    pixels = np.zeros((64, 128, 3), np.uint8)  # stored: 128 wide, white on the left half
    pixels[:, :64] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: 64 wide, 128 high, white on the top half
    Image.fromarray(pixels).save(images / "a.jpg", quality=95, exif=exif.tobytes())
    (labels / "a.txt").write_text("0 0.5 0.25 1.0 0.5\n")  # the top half of the picture as shown
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [white]\n")
    read, _ = read_yolo_dataset(tmp_path)
    split = read["train"]
    assert split.images.shape[2:] == (128, 64)
    x1, y1, x2, y2 = split.boxes[0, 0].round().int().tolist()
    assert (x1, y1, x2, y2) == (0, 0, 64, 64)
    assert split.images[0, :, y1:y2 - 4, x1:x2].float().mean() > 240  # the box holds the white object
    assert split.images[0, :, y2 + 4:, :].float().mean() < 15
