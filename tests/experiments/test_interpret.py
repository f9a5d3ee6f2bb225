import json

import numpy as np
import pytest
import torch
from PIL import Image

from trainlab.experiments.interpret import Interpretation, interpret


@pytest.fixture(scope="module")
def interp(trained):
    return Interpretation.from_checkpoint(trained / "checkpoints" / "best.pt", "test")


def test_confusion_matrix_and_most_confused_agree_with_the_predictions(interp, trained):
    cm = interp.confusion_matrix()
    metrics = json.loads((trained / "metrics_test.json").read_text())
    assert cm.sum() == len(interp.targets) and np.array_equal(cm, np.array(metrics["confusion_matrix"]))
    assert np.trace(cm) / cm.sum() == pytest.approx(metrics["accuracy"])
    pairs = interp.most_confused()
    assert all(a != p and n >= 1 for a, p, n in pairs)
    assert [n for _, _, n in pairs] == sorted((n for _, _, n in pairs), reverse=True)
    assert sum(n for _, _, n in pairs) == cm.sum() - np.trace(cm)


def test_top_losses_are_the_highest_and_images_are_the_raw_pixels(interp):
    idx = interp.top_losses(5)
    assert list(interp.losses[idx]) == sorted(interp.losses, reverse=True)[:5]
    images = interp.images(idx)  # (5, H, W, C) in [0, 1]
    raw = interp.learner.data.test.images[torch.as_tensor(idx)].float() / 255  # uint8 (5, C, H, W)
    assert images.shape == (5, 8, 8, 1)
    assert np.allclose(images, raw.permute(0, 2, 3, 1).numpy(), atol=1e-5)


def test_interpret_writes_its_files(trained, tmp_path):
    import shutil

    exp = tmp_path / "exp"
    shutil.copytree(trained, exp)
    _, paths = interpret(exp, k=6)
    assert [p.name for p in paths] == ["confusion_matrix.png", "top_losses.png", "interpret.md"]
    with Image.open(exp / "top_losses.png") as im:
        assert im.size[0] > 200
    md = (exp / "interpret.md").read_text()
    assert md.count("\n| ") >= 6 and "## Most confused" in md
