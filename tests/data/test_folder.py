"""Tests of trainlab.data.folder: class discovery, labels and order, decoding, conversion, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainlab.data.folder import ImageFolderDataset, find_classes, read_image
from trainlab.data.rejig import apply_rejig, plan_rejig
from trainlab.errors import ConfigError, DataError


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def solid(h: int, w: int, value: int | tuple[int, int, int]) -> np.ndarray:
    """(H, W) uint8 for an int value, (H, W, 3) for an RGB triple."""
    shape = (h, w) if isinstance(value, int) else (h, w, 3)
    return np.full(shape, value, dtype=np.uint8)


@pytest.fixture
def split(tmp_path) -> Path:
    """train/ with cat (3 RGB of mixed sizes, one nested), dog (2 gray), a hidden folder and a stray file."""
    root = tmp_path / "train"
    save(root / "cat" / "b.png", solid(10, 12, (200, 10, 10)))
    save(root / "cat" / "a.png", solid(7, 5, (10, 200, 10)))
    save(root / "cat" / "more" / "c.PNG", solid(20, 20, (10, 10, 200)))
    save(root / "dog" / "z.png", solid(9, 9, 40))
    save(root / "dog" / "y.bmp", solid(16, 8, 90))
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".ipynb_checkpoints").mkdir()
    (root / "readme.txt").write_text("a file, not a class")
    return root


def test_find_classes_sorted_subfolders_only(split):
    (split / "ant").mkdir()
    assert find_classes(split) == ["ant", "cat", "dog"]


def test_find_classes_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        find_classes(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        find_classes(tmp_path / "empty")


def test_files_labels_order_and_shapes(split):
    ds = ImageFolderDataset(split, ["dog", "cat"], image_size=(6, 11), channels=3)
    rel = [str(p.relative_to(split)) for p in ds.files]
    assert rel == ["dog/y.bmp", "dog/z.png", "cat/a.png", "cat/b.png", "cat/more/c.PNG"]
    assert ds.targets == [0, 0, 1, 1, 1]
    assert len(ds) == 5
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.shape == (3, 6, 11) and image.dtype == torch.uint8  # (C, H, W), H != W
        assert label == ds.targets[i]
    # solid colors survive resizing; the channel axis comes first
    assert ds[3][0][:, 2, 5].tolist() == [200, 10, 10]
    assert ds[4][0][:, 0, 0].tolist() == [10, 10, 200]


def test_gray_to_rgb_and_rgb_to_gray(split):
    rgb = ImageFolderDataset(split, ["cat", "dog"], image_size=(4, 4), channels=3)
    gray_as_rgb, _ = rgb[3]  # dog/y.bmp, value 90
    assert torch.equal(gray_as_rgb, torch.full((3, 4, 4), 90, dtype=torch.uint8))
    gray = ImageFolderDataset(split, ["cat", "dog"], image_size=(4, 4), channels=1)
    red_as_gray, _ = gray[1]  # cat/b.png, (200, 10, 10)
    luma = round((299 * 200 + 587 * 10 + 114 * 10) / 1000)  # ITU-R 601-2, PIL's L conversion
    assert red_as_gray.shape == (1, 4, 4)
    assert abs(int(red_as_gray[0, 0, 0]) - luma) <= 1


def test_read_image_keeps_content_when_size_matches(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    path = save(tmp_path / "x.png", pixels)
    image = read_image(path, image_size=(5, 7), channels=3)
    assert torch.equal(image, torch.from_numpy(pixels).permute(2, 0, 1))


def test_read_image_modes(tmp_path):
    deep = np.array([[0, 257 * 100], [65535, 257 * 7]], dtype=np.uint16)  # 16-bit PNG, scaled not clipped
    sixteen = save(tmp_path / "deep.png", deep)
    assert read_image(sixteen, image_size=(2, 2), channels=1)[0].tolist() == [[0, 100], [255, 7]]
    rgba = save(tmp_path / "alpha.png", np.full((3, 3, 4), (20, 40, 60, 100), dtype=np.uint8))
    assert read_image(rgba, image_size=(3, 3), channels=3)[:, 1, 1].tolist() == [20, 40, 60]
    palette = tmp_path / "pal.gif"
    Image.fromarray(solid(3, 3, (0, 0, 255))).convert("P").save(palette)
    assert read_image(palette, image_size=(2, 2), channels=3)[:, 0, 0].tolist() == [0, 0, 255]


def test_corrupt_image_raises_on_read_naming_the_file(split):
    bad = split / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    truncated = split / "cat" / "short.png"
    good = (split / "cat" / "b.png").read_bytes()
    truncated.write_bytes(good[: len(good) // 2])
    ds = ImageFolderDataset(split, ["cat", "dog"], image_size=(8, 8), channels=3)  # listing does not decode
    for path in (bad, truncated):
        with pytest.raises(DataError, match="cannot read image") as err:
            ds[ds.files.index(path)]
        assert str(path) in str(err.value)
    assert ds[0][0].shape == (3, 8, 8)  # the other files still read


def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="gone.png"):
        read_image(tmp_path / "gone.png", image_size=(2, 2), channels=1)


def test_split_folder_errors(split, tmp_path):
    with pytest.raises(DataError, match=r"no folder for class\(es\) \['bird'\]"):
        ImageFolderDataset(split, ["bird", "cat", "dog"], image_size=(4, 4), channels=1)
    with pytest.raises(DataError, match=r"\['dog'\] for classes not in"):
        ImageFolderDataset(split, ["cat"], image_size=(4, 4), channels=1)
    with pytest.raises(DataError, match="distinct"):
        ImageFolderDataset(split, ["cat", "cat", "dog"], image_size=(4, 4), channels=1)
    empty = tmp_path / "valid"
    (empty / "cat").mkdir(parents=True)
    (empty / "dog").mkdir()
    with pytest.raises(DataError, match="holds no image"):
        ImageFolderDataset(empty, ["cat", "dog"], image_size=(4, 4), channels=1)
    (tmp_path / "bare").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        ImageFolderDataset(tmp_path / "bare", ["cat"], image_size=(4, 4), channels=1)
    with pytest.raises(DataError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing", ["cat"], image_size=(4, 4), channels=1)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"channels": 2}, "channels must be 1"),
    ({"channels": 4}, "channels must be 1"),
    ({"image_size": (0, 4)}, "positive integers"),
    ({"image_size": (4,)}, "positive integers"),
    ({"image_size": (4.5, 4)}, "positive integers"),
])
def test_bad_arguments_raise_config_error(split, kwargs, message):
    args = {"image_size": (4, 4), "channels": 1, **kwargs}
    with pytest.raises(ConfigError, match=message):
        ImageFolderDataset(split, ["cat", "dog"], **args)


def test_dataloader_stacks_and_to_tensors_matches_items(split):
    ds = ImageFolderDataset(split, ["cat", "dog"], image_size=(5, 6), channels=1)
    images, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert images.shape == (5, 1, 5, 6) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1]
    all_images, all_labels = ds.to_tensors()
    assert torch.equal(all_images, images) and torch.equal(all_labels, labels)


def test_rejig_output_loads_with_the_same_classes_in_every_split(tmp_path):
    for i in range(12):
        save(tmp_path / "raw" / f"s{i}_Ha_.png", solid(6, 6, 250))
        save(tmp_path / "raw" / f"s{i}_Sa_.png", solid(6, 6, 5))
    apply_rejig(plan_rejig(tmp_path / "raw", tmp_path / "data", {"happy": "_Ha_", "sad": "_Sa_"},
                           valid_fraction=0.25, seed=3))
    classes = find_classes(tmp_path / "data" / "train")
    assert classes == ["happy", "sad"]
    for split_name, n in (("train", 18), ("valid", 6)):
        ds = ImageFolderDataset(tmp_path / "data" / split_name, classes, image_size=(6, 6), channels=1)
        images, labels = ds.to_tensors()
        assert len(ds) == n and labels.bincount().tolist() == [n // 2, n // 2]
        # the label matches the content: happy images are bright, sad ones dark
        assert torch.equal(images.flatten(1).float().mean(1) > 128, labels == 0)
