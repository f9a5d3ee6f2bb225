import pytest
import torch

from trainlab.errors import ModelError, UnknownNameError
from trainlab.viz import activation_change, augment_and_watch, paste_patch

from .helpers import PLUS, plus_detector, plus_dataset


def test_paste_patch_places_and_clips():
    src = torch.arange(16.0).view(1, 4, 4)
    out = paste_patch(src, (1, 1, 3, 4), torch.zeros(1, 5, 5), at=(0, 3))
    assert out[0, 0, 3:].tolist() == [5.0, 6.0] and out[0, 1, 3:].tolist() == [9.0, 10.0]
    assert out.sum() == 5 + 6 + 9 + 10  # the third column fell off the right edge
    edge = paste_patch(src, (0, 0, 2, 2), torch.zeros(1, 3, 3), at=(-1, -1))
    assert edge[0, 0, 0] == 5.0 and edge.sum() == 5.0
    with pytest.raises(ModelError, match="empty or outside"):
        paste_patch(src, (2, 2, 2, 3), torch.zeros(1, 4, 4), at=(0, 0))


def test_pasting_the_pattern_turns_the_channel_on():
    images, corners = plus_dataset(with_plus=(0,))
    y, x = corners[0]
    blank = images[1]
    after = paste_patch(images[0], (y, x, y + 3, x + 3), blank, at=(4, 5))
    change = activation_change(plus_detector(), "1", 0, blank, after)
    assert change.before_value < 0.5 < 2.0 < change.after_value
    assert int(change.delta.argmax()) == 4 * change.delta.shape[1] + 5  # the unit over the pasted plus


def test_brightness_scales_a_bias_free_relu_channel_and_occlusion_removes_it():
    image = torch.zeros(1, 12, 12)
    image[0, 5:8, 6:9] = PLUS
    sweeps = augment_and_watch(plus_detector(), "1", 0, image,
                               {"brightness": [0.5, 1.0, 2.0], "occlusion": [0.0, 0.5], "noise": [0.0, 0.3]})
    bright = sweeps["brightness"]
    assert bright.baseline == pytest.approx(5 - 5 * 5 / 9, rel=1e-5)
    assert bright.responses == pytest.approx([0.5 * bright.baseline, bright.baseline, 2 * bright.baseline], rel=1e-5)
    occlusion = sweeps["occlusion"].responses
    assert occlusion[0] == pytest.approx(bright.baseline) and occlusion[1] == pytest.approx(0.0, abs=1e-6)
    assert sweeps["noise"].responses[0] == pytest.approx(bright.baseline)


def test_default_sweeps_in_pixel_space():
    images, _ = plus_dataset()
    mean, std = [0.1], [0.3]
    sweeps = augment_and_watch(plus_detector(), "1", 0, (images[3] - 0.1) / 0.3, mean=mean, std=std)
    assert set(sweeps) == {"noise", "blur", "rotation", "brightness", "occlusion"}
    blur = sweeps["blur"].responses
    assert blur[0] == pytest.approx(sweeps["blur"].baseline) and blur[-1] < 0.5 * blur[0]
    with pytest.raises(UnknownNameError, match="noise"):
        augment_and_watch(plus_detector(), "1", 0, images[3], ["nosie"])
