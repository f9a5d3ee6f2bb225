"""trainlab.images: one reader for user images, EXIF orientation applied, every fault a one-line DataError."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainlab.data.folder import ImageFolderDataset
from trainlab.errors import DataError
from trainlab.images import is_grayscale, read_image, read_image_file, resize


def sideways_jpeg(path: Path) -> Path:
    """A 40×80 (H×W) JPEG stored as it left the sensor: white on the left half; EXIF Orientation 6 says
    "turn 90° clockwise to view", so a viewer shows an 80×40 picture, white on the top half."""
    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, :40] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())
    return path


def test_exif_orientation_is_applied(tmp_path):
    path = sideways_jpeg(tmp_path / "photo.jpg")
    with Image.open(path) as raw:
        assert raw.size == (80, 40)  # what a reader ignoring the tag sees
    shown = read_image(path)
    assert shown.shape == (80, 40, 3) and shown.dtype == np.uint8
    assert shown[:35].mean() > 240 and shown[45:].mean() < 15  # white on top, as a viewer shows it
    small = read_image(path, channels=1, size=(16, 8))
    assert small.shape == (16, 8, 1) and small[:6].mean() > 240 and small[10:].mean() < 15


def test_classification_folders_apply_the_orientation_too(tmp_path):
    sideways_jpeg(tmp_path / "train" / "up" / "a.jpg")
    image, label = ImageFolderDataset(tmp_path / "train", ["up"], image_size=(8, 4), channels=1)[0]
    assert image.shape == (1, 8, 4) and image[0, :3].float().mean() > 240 and image[0, 5:].float().mean() < 15


def test_modes_and_grayscale_detection(tmp_path):
    grey16 = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 5), 65535, np.uint16)).save(grey16)
    assert is_grayscale(grey16) and read_image(grey16).shape == (4, 5, 1) and read_image(grey16).max() == 255
    rgba = tmp_path / "alpha.png"
    Image.fromarray(np.full((4, 5, 4), 9, np.uint8)).save(rgba)
    assert not is_grayscale(rgba) and read_image(rgba).shape == (4, 5, 3)
    assert read_image(rgba, channels=1).shape == (4, 5, 1) and read_image(grey16, channels=3).shape == (4, 5, 3)


def huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG header claiming width × height pixels with almost no data: PIL judges the size at open."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))  # 1-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_one_line_with_the_count_the_limit_and_the_way_out(tmp_path, monkeypatch):
    path = huge_png(tmp_path / "scan.png", 15_000, 12_000)  # 180 megapixels
    with pytest.raises(DataError) as err:
        read_image(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "180,000,000 pixels" in message and "178,956,970" in message and "TRAINLAB_MAX_IMAGE_PIXELS" in message
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    monkeypatch.setenv("TRAINLAB_MAX_IMAGE_PIXELS", "100000000")  # lower than the file: refused by our check
    with pytest.raises(DataError, match="limit of 100,000,000"):
        read_image(path)
    monkeypatch.setenv("TRAINLAB_MAX_IMAGE_PIXELS", "200000000")  # raised: PIL decodes it (and finds it truncated)
    with pytest.raises(DataError) as err:
        read_image(path)
    assert "pixels" not in str(err.value) and "cannot read image" in str(err.value)
    monkeypatch.setenv("TRAINLAB_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(DataError, match="positive whole number"):
        read_image(path)


def test_broken_and_missing_files_are_one_line_errors(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match="cannot read image .*broken.jpg"):
        read_image(broken)
    with pytest.raises(DataError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    assert not is_grayscale(broken)


def test_image_size_is_the_shown_size(tmp_path):
    from trainlab.images import image_size

    assert image_size(sideways_jpeg(tmp_path / "photo.jpg")) == (80, 40)
    with pytest.raises(DataError, match="180,000,000 pixels"):
        image_size(huge_png(tmp_path / "scan.png", 15_000, 12_000))


def test_grey_and_colour_conversions(tmp_path):
    Image.fromarray(np.full((4, 5), 65535, np.uint16)).save(tmp_path / "deep.png")
    assert read_image_file(tmp_path / "deep.png", channels=1).max() == 255  # scaled, not clipped
    Image.new("P", (3, 2)).save(tmp_path / "palette.png")
    assert read_image_file(tmp_path / "palette.png", channels=3).shape == (2, 3, 3)
    assert resize(np.zeros((2, 3), np.uint8), (5, 7)).shape == (5, 7)


@pytest.mark.parametrize("content, reason", [(b"", "cannot identify"), (b"\x89PNG\r\n\x1a\nbroken", "")])
def test_unreadable_files_are_one_line_errors(tmp_path, content, reason):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"cannot read image .*x.png.*{reason}") as e:
        read_image_file(path, channels=1)
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="does not exist"):
        read_image_file(tmp_path / "missing.png", channels=1)


def test_a_decompression_bomb_is_refused(tmp_path, monkeypatch):
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels is more than twice that: PIL refuses
    with pytest.raises(DataError, match="big.png.*decompression bomb"):
        read_image_file(tmp_path / "big.png", channels=1)  # PIL's lowered limit (2 × 1000) is the one named
