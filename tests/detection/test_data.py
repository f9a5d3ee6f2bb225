"""Detection splits and loaders: padding, batches resumable mid-epoch, subsets keep image ids, shards."""
from __future__ import annotations

import torch

from trainlab.detection.augment import BoxAugment
from trainlab.detection.data import DetectionLoader, DetectionPipeline, detection_bundle, make_split, pad_boxes


def split_of(n: int = 20):
    boxes = [torch.tensor([[1.0 + i, 2.0, 10.0 + i, 12.0]] * (i % 3)) for i in range(n)]
    labels = [torch.full((i % 3,), i % 4) for i in range(n)]
    images = torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 1, 32, 32).contiguous()
    return make_split(images, boxes, labels)


def test_pad_boxes_marks_empty_slots_and_keeps_order() -> None:
    boxes, labels = pad_boxes([torch.ones(1, 4), torch.zeros(0, 4), 2 * torch.ones(3, 4)],
                              [torch.tensor([5]), torch.zeros(0, dtype=torch.long), torch.tensor([1, 2, 3])])
    assert boxes.shape == (3, 3, 4) and labels.tolist() == [[5, -1, -1], [-1, -1, -1], [1, 2, 3]]
    assert float(boxes[2].sum()) == 24.0 and float(boxes[1].sum()) == 0.0


def test_batches_crop_padding_and_carry_each_images_boxes_and_id() -> None:
    s = split_of()
    loader = DetectionLoader(s, batch_size=4, pipeline=DetectionPipeline(mean=[0.0], std=[1.0]), train=False)
    seen = []
    for x, y in loader.batches(0):
        assert y.boxes.shape[1] == max(1, int(y.valid.sum(1).max()))
        for i, d in zip(y.index.tolist(), y.as_list()):
            assert len(d["labels"]) == i % 3 and (d["labels"] == i % 4).all()
        assert torch.allclose(x[:, 0, 0, 0] * 255, y.index.float())  # the image belongs to the id
        seen += y.index.tolist()
    assert seen == list(range(20))


def test_resuming_mid_epoch_reproduces_the_same_augmented_batches() -> None:
    s = split_of(40)
    pipe = DetectionPipeline(mean=[0.5], std=[0.25], augment=BoxAugment.preset("standard", flip=True))
    loader = DetectionLoader(s, batch_size=6, pipeline=pipe, train=True, seed=7)
    full = list(loader.batches(3))
    tail = list(loader.batches(3, start=4))
    assert len(tail) == len(full) - 4
    for (xa, ya), (xb, yb) in zip(full[4:], tail):
        assert torch.equal(xa, xb) and torch.equal(ya.boxes, yb.boxes) and torch.equal(ya.labels, yb.labels)
    assert [y.index.tolist() for _, y in loader.batches(2)] != [y.index.tolist() for _, y in loader.batches(3)]


def test_subset_keeps_image_ids_and_shards_cover_the_split() -> None:
    s = split_of(30)
    pipe = DetectionPipeline(mean=[0.0], std=[1.0])
    sub = DetectionLoader(s, batch_size=8, pipeline=pipe, train=False).subset(torch.tensor([3, 7, 11]))
    (_, y), = list(sub.batches(0))
    assert y.index.tolist() == [3, 7, 11] and [len(d["labels"]) for d in y.as_list()] == [0, 1, 2]
    shards = [DetectionLoader(s, batch_size=4, pipeline=pipe, train=False, rank=r, world_size=3) for r in range(3)]
    ids = sorted(i for ld in shards for _, y in ld.batches(0) for i in y.index.tolist())
    assert ids == list(range(30))


def test_bundle_normalizes_with_training_statistics() -> None:
    s = split_of(20)
    data = detection_bundle(s, s, None, ["a", "b", "c", "d"], batch_size=5)
    x = torch.cat([x for x, _ in data.valid.batches(0)])
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std(unbiased=False)) - 1) < 1e-3  # float32 sums
    assert data.num_classes == 4 and data.test is None and data.input_shape == (1, 32, 32)
