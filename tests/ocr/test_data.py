"""Line loaders: padding to the batch's widest line, bucketing, exact resume, subsets and shards."""
from __future__ import annotations

import torch

from trainlab.ocr.alphabet import Alphabet
from trainlab.ocr.data import LineLoader, LinePipeline, ink_stats, line_bundle, pad_lines
from trainlab.ocr.augment import LineAugment


def make_split(n: int = 40, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    widths = torch.randint(8, 80, (n,), generator=gen).tolist()
    images = [torch.randint(1, 256, (1, 16, w), generator=gen, dtype=torch.uint8) for w in widths]
    texts = ["ab"[i % 2] * (1 + i % 5) for i in range(n)]
    return pad_lines(images, texts, Alphabet("ab")), widths, texts


def loader(split, **kw) -> LineLoader:
    pipe = LinePipeline(mean=[0.5], std=[0.25], augment=kw.pop("augment", None))
    return LineLoader(split, batch_size=kw.pop("batch_size", 8), pipeline=pipe, train=kw.pop("train", True), seed=3,
                      **kw)


def test_batches_crop_to_the_widest_line_and_keep_targets() -> None:
    split, widths, texts = make_split()
    seen = []
    for x, y in loader(split, train=False).batches(0):
        assert x.shape[3] % 4 == 0 and x.shape[3] - 4 < int(y.widths.max()) <= x.shape[3]
        assert y.labels.shape[1] == int(y.lengths.max())
        seen += Alphabet("ab").decode_batch(y.labels, y.lengths)
    assert seen == texts  # evaluation keeps the file order
    x, _ = next(loader(split, train=False).batches(0))
    assert torch.allclose(x[0, :, :, : widths[0]], (split.images[0, :, :, : widths[0]].float() / 255 - 0.5) / 0.25)


def test_bucketing_covers_every_line_once_and_cuts_padding() -> None:
    split, _, _ = make_split(200)
    plain, bucketed = loader(split), loader(split, bucket=5)
    order = torch.cat(bucketed.index_batches(2))
    assert sorted(order.tolist()) == list(range(200)) and len(bucketed) == len(bucketed.index_batches(2)) == 25

    def padding(ld: LineLoader) -> int:
        return sum(int(split.widths[i].max()) * len(i) - int(split.widths[i].sum()) for i in ld.index_batches(2))

    assert padding(bucketed) < 0.5 * padding(plain)
    assert [b.tolist() for b in bucketed.index_batches(1)] != [b.tolist() for b in bucketed.index_batches(2)]


def test_resuming_mid_epoch_reproduces_the_same_augmented_batches() -> None:
    split, _, _ = make_split(64)
    ld = loader(split, bucket=2, augment=LineAugment.preset("standard"))
    full = list(ld.batches(4))
    tail = list(ld.batches(4, start=5))
    assert len(tail) == len(full) - 5
    for (xa, ya), (xb, yb) in zip(full[5:], tail):
        assert torch.equal(xa, xb) and torch.equal(ya.labels, yb.labels)


def test_subset_and_shards() -> None:
    split, _, texts = make_split(30)
    sub = loader(split, train=False).subset(torch.tensor([3, 7, 11]))
    (x, y), = list(sub.batches(0))
    assert sub.num_samples == 3 and len(y) == 3
    assert Alphabet("ab").decode_batch(y.labels, y.lengths) == [texts[3], texts[7], texts[11]]
    shards = [loader(split, rank=r, world_size=3) for r in range(3)]
    seen = torch.cat([torch.cat(s.index_batches(0)) for s in shards])
    assert sorted(seen.tolist()) == list(range(30))


def test_ink_stats_ignore_padding_and_bundle_reports_shapes() -> None:
    wide = torch.full((1, 16, 20), 200, dtype=torch.uint8)
    narrow = torch.full((1, 16, 4), 200, dtype=torch.uint8)
    split = pad_lines([wide, narrow], ["a", "b"], Alphabet("ab"))
    mean, std = ink_stats(split)
    assert abs(mean[0] - 200 / 255) < 1e-6 and std[0] < 1e-3  # the zero padding is not counted
    data = line_bundle(split, split, split, Alphabet("ab"), batch_size=2, augment="light")
    assert data.class_names == ["a", "b"] and data.input_shape == (1, 16, 12)
    assert data.test is not None and "shear" in data.augmentation
