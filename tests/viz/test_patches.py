import pytest
import torch
from torch.utils.data import TensorDataset

from trainlab.errors import DataError, ModelError
from trainlab.viz import top_patches

from .helpers import PLUS, plus_detector, plus_dataset


def test_top_patches_finds_the_images_with_the_pattern_and_boxes_it():
    images, corners = plus_dataset()
    result = top_patches(plus_detector(), "1", channel=0, dataset=images, k=5, batch_size=7)
    assert result.images_seen == 40
    assert {p.index for p in result.patches} == set(corners)
    assert [p.value for p in result.patches] == sorted((p.value for p in result.patches), reverse=True)
    for p in result.patches:
        y, x = corners[p.index]
        assert p.position == (y, x)  # a valid 3×3 conv: unit (y, x) sees pixels y..y+2, x..x+2
        assert p.box == (y, x, y + 3, x + 3)
        assert torch.allclose(p.patch[0] - images[p.index, 0, y:y + 3, x:x + 3], torch.zeros(3, 3))
        assert (p.patch[0] - PLUS).abs().max() < 0.11  # the plus plus faint noise


def test_the_other_channel_ranks_other_positions():
    images, corners = plus_dataset()
    result = top_patches(plus_detector(), "1", channel=1, dataset=images, k=5)
    assert all(p.position != corners.get(p.index) for p in result.patches)  # the plus is its weakest spot
    assert max(p.value for p in result.patches) < 2.0


def test_all_positions_mode_can_repeat_an_image_and_labels_are_kept():
    images, corners = plus_dataset(with_plus=(4,))
    labels = torch.arange(40)
    result = top_patches(plus_detector(), "0", channel=0, dataset=TensorDataset(images, labels), k=3,
                         one_per_image=False)
    assert [p.index for p in result.patches].count(4) >= 2  # the plus and its partial overlaps
    assert result.patches[0].label == 4 and result.patches[0].position == corners[4]


def test_streams_generators_and_respects_max_images():
    images, corners = plus_dataset()
    batches = ((images[i:i + 8], torch.zeros(8)) for i in range(0, 40, 8))
    result = top_patches(plus_detector(), "1", 0, batches, k=2, max_images=12)
    assert result.images_seen == 12
    assert {p.index for p in result.patches} == {3, 11}  # the two plus images among the first 12


def test_trainlab_loaders_are_read_in_order_without_augmentation():
    from trainlab.config import DataConfig
    from trainlab.data import data_from_config

    data = data_from_config(DataConfig(name="digits", augment="light"), seed=0)
    net = plus_detector()
    result = top_patches(net, "1", 0, data.train, k=3)
    assert result.images_seen == data.train.num_samples
    x, _ = next(data.train.subset(torch.tensor([result.patches[0].index]), train=False).batches(0))
    assert torch.equal(x[0], result.patches[0].image)


def test_errors():
    with pytest.raises(ModelError, match="out of range"):
        top_patches(plus_detector(), "1", 5, torch.zeros(2, 1, 8, 8))
    with pytest.raises(DataError, match="no images"):
        top_patches(plus_detector(), "1", 0, torch.zeros(0, 1, 8, 8))
    with pytest.raises(DataError, match="yielded"):
        top_patches(plus_detector(), "1", 0, [["not", "images"]])
