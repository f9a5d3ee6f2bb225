"""digit-scenes: exact boxes, the overlap limit, options checked, seeded, pools kept apart."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from trainlab.detection import scenes
from trainlab.detection.scenes import SceneOptions, scene_splits
from trainlab.errors import DataError


def test_every_box_is_its_objects_ink_extent_and_nothing_lies_outside_the_boxes(tiny_scenes) -> None:
    splits, names = tiny_scenes
    assert names == [str(i) for i in range(10)]
    for split in splits.values():
        covered = torch.zeros(split.images.shape[0], 64, 64, dtype=torch.bool)
        for i in range(len(split)):
            for x1, y1, x2, y2 in split.boxes[i][split.labels[i] >= 0].round().long().tolist():
                covered[i, y1:y2, x1:x2] = True
                ink = split.images[i, 0, y1:y2, x1:x2] > 0
                # the object was cropped to its ink before scaling: every edge row/column of the box has ink
                assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()
        assert int(split.images[:, 0][~covered].max()) == 0  # no ink outside the boxes (noise 0)
        assert 1 <= int(split.counts.min()) and int(split.counts.max()) <= 3


def test_boxes_of_a_scene_overlap_at_most_the_limit() -> None:
    o = SceneOptions(size=64, scenes=(40, 1, 1), objects=(4, 6), object_size=(16, 30), max_overlap=0.1)
    splits, _ = scene_splits(seed=0, valid_fraction=0.1, test_fraction=0.2, options=o)
    s = splits["train"]
    for i in range(len(s)):
        b = s.boxes[i][s.labels[i] >= 0]
        iou = box_iou(b, b) - torch.eye(len(b))
        assert float(iou.max()) <= 0.1 + 1e-6


def test_same_seed_same_scenes_other_seed_other_scenes(tiny_scenes) -> None:
    again, _ = scene_splits(seed=3, valid_fraction=0.1, test_fraction=0.2,
                            options=SceneOptions(size=64, scenes=(48, 16, 16), objects=(1, 3), object_size=(12, 24)))
    other, _ = scene_splits(seed=4, valid_fraction=0.1, test_fraction=0.2,
                            options=SceneOptions(size=64, scenes=(48, 16, 16), objects=(1, 3), object_size=(12, 24)))
    assert torch.equal(again["test"].images, tiny_scenes[0]["test"].images)
    assert not torch.equal(other["test"].images, tiny_scenes[0]["test"].images)


def test_splits_draw_from_disjoint_pools_of_source_images(monkeypatch) -> None:
    drawn: dict[int, set[int]] = {}
    real = scenes.compose_scenes

    def spy(count, pools, images, o, rng):
        drawn[len(drawn)] = set(np.concatenate(list(pools.values())).tolist())
        return real(count, pools, images, o, rng)

    monkeypatch.setattr(scenes, "compose_scenes", spy)
    scene_splits(seed=0, valid_fraction=0.1, test_fraction=0.2, options=SceneOptions(size=64, scenes=(2, 2, 2)))
    train, valid, test = drawn[0], drawn[1], drawn[2]
    assert not (train & valid) and not (train & test) and not (valid & test)
    assert len(train) + len(valid) + len(test) == 1797


@pytest.mark.parametrize(("args", "message"), [
    ({"size": 100}, "multiple of 32"), ({"scenes": [1, 2]}, "scenes must be"), ({"objects": [3, 2]}, "objects must"),
    ({"object_size": [2, 10]}, "object_size"), ({"max_overlap": 1.5}, "max_overlap"), ({"sorce": "x"}, "unknown data.args"),
    ({"source": "cifar"}, "allowed: digits, fashion-mnist"),
])
def test_bad_options_name_what_is_allowed(args: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        SceneOptions.from_args(args)


def test_fashion_mnist_scenes_when_data_root_is_given(fashion_root) -> None:
    splits, names = scene_splits(seed=0, valid_fraction=0.1, test_fraction=0.2, root=str(fashion_root),
                                 options=SceneOptions(size=64, scenes=(4, 2, 2)))
    assert names[0] == "T-shirt/top" and len(names) == 10 and splits["train"].images.shape == (4, 1, 64, 64)
