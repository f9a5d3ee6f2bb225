"""`trainlab viz` end to end on a tiny trained digits model (``trained``: tests/viz/conftest.py)."""
import re

import numpy as np
import pytest
from PIL import Image

from trainlab.cli import main


def test_viz_all_writes_every_picture_and_an_index(trained, tmp_path, capsys, caplog):
    out = tmp_path / "viz"
    with caplog.at_level("INFO", logger="trainlab"):
        code = main(["viz", str(trained), "--what", "all", "--out", str(out), "--steps", "5", "-k", "4",
                     "--max-images", "40", "--index", "0", "1"])
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 12 and "layer: block2 (the last convolutional block" in caplog.text
    assert sorted(line.removeprefix(f"wrote {out}/") for line in printed[:-1]) == pngs  # as each was written
    assert printed[-1] == f"wrote {out / 'index.html'}"
    html = (out / "index.html").read_text()
    assert all(f'src="{name}"' in html for name in pngs)
    for name in pngs:
        with Image.open(out / name) as im:
            assert min(im.size) >= 200, name


def test_viz_with_a_layer_channel_image_and_target(trained, tmp_path, capsys):
    image = tmp_path / "seven.png"
    pixels = np.zeros((32, 32), dtype=np.uint8)
    pixels[4:8, 6:26] = 255
    pixels[8:28, 20:25] = 255
    Image.fromarray(pixels).save(image)
    out = tmp_path / "viz"
    assert main(["viz", str(trained), "--what", "feature-maps", "receptive-field", "gradcam", "--layer", "block1",
                 "--channel", "2", "--unit", "1,1", "--image", str(image), "--target", "7", "--out", str(out)]) == 0
    assert {p.name for p in out.glob("*.png")} == {"feature-maps-block1.png", "receptive-field-block1-1-1.png",
                                                   "gradcam-block1.png"}
    assert "7" in (out / "viz.json").read_text()
    assert main(["viz", str(trained), "--what", "maximize", "--target", "3", "--steps", "5", "--out", str(out)]) == 0
    assert (out / "maximize-class-3.png").exists()
    assert len(re.findall("<figure>", (out / "index.html").read_text())) == 4  # both runs on one page


@pytest.mark.parametrize("argv, message", [
    (["--what", "feature-maps", "--layer", "blok2"], "Did you mean 'block2'"),
    (["--what", "top-patches", "--channel", "99"], "out of range"),
    (["--what", "feature-maps", "--channel", "999"], "--channel 999 is out of range"),
    (["--what", "receptive-field", "--unit", "50,50"], "--unit 50,50 is outside"),
    (["--what", "saliency", "--index", "100000"], "outside the valid split"),
    (["--what", "saliency", "--target", "eleven"], "not a class"),
    (["--what", "filters", "--image", "missing.png"], "missing.png' does not exist"),
])
def test_user_errors_are_one_line(trained, tmp_path, capsys, argv, message):
    assert main(["viz", str(trained), *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
