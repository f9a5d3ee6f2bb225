"""trainlab.images: one reader for user images, EXIF orientation applied, every fault a one-line DataError."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from trainlab.errors import DataError
from trainlab.images import read_image_file, resize


def test_the_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((10, 30, 3), np.uint8)
    pixels[:, :5] = 255  # a white band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view": a phone held upright
    Image.fromarray(pixels).save(tmp_path / "photo.jpg", exif=exif, quality=100)
    upright = read_image_file(tmp_path / "photo.jpg", channels=3)
    assert upright.shape == (30, 10, 3)  # taller than wide, as the photo was taken
    assert upright[:5].mean() > 200 and upright[-5:].mean() < 50  # the band is on top now


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
    with pytest.raises(DataError, match="No such file"):
        read_image_file(tmp_path / "missing.png", channels=1)


def test_a_decompression_bomb_is_refused(tmp_path, monkeypatch):
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels is more than twice that: PIL refuses
    with pytest.raises(DataError, match="big.png.*decompression bomb"):
        read_image_file(tmp_path / "big.png", channels=1)
