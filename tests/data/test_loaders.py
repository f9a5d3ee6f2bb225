import torch

from trainlab.data import BatchPipeline, StreamLoader, TensorLoader


def make(n=103, train=True, **kw):
    images = torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 1, 4, 4).contiguous()
    pipe = BatchPipeline(mean=[0.0], std=[1 / 255], augment=kw.pop("augment", "none"))  # x == raw pixel value
    return TensorLoader(images, torch.arange(n) % 5, batch_size=10, pipeline=pipe, train=train, seed=3, **kw)


def ids(batches):
    return [int(v) for x, _ in batches for v in x[:, 0, 0, 0]]


def test_each_epoch_is_a_permutation_and_epochs_differ():
    loader = make()
    assert len(loader) == 11
    e0, e1 = ids(loader.batches(0)), ids(loader.batches(1))
    assert sorted(e0) == sorted(e1) == list(range(103))
    assert e0 != e1
    assert e0 == ids(make().batches(0))  # same seed, same order


def test_eval_loader_keeps_order():
    assert ids(make(train=False).batches(0)) == list(range(103))


def test_resume_mid_epoch_gives_the_same_batches_including_augmentation():
    loader = make(augment="standard")
    full = list(loader.batches(2))
    tail = list(loader.batches(2, start=4))
    assert len(tail) == len(full) - 4
    for (xa, ya), (xb, yb) in zip(full[4:], tail):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_sharding_eval_counts_each_sample_once_and_train_pads_evenly():
    shards = [ids(make(train=False, rank=r, world_size=3).batches(0)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(103))
    train = [ids(make(rank=r, world_size=3).batches(5)) for r in range(3)]
    assert len({len(s) for s in train}) == 1 and set(sum(train, [])) == set(range(103))
    assert len(make(rank=0, world_size=3)) == 4


def test_subset_and_stream_loader_agree_with_tensor_loader():
    loader = make(train=False)
    sub = loader.subset(torch.tensor([5, 7, 9]))
    assert ids(sub.batches(0)) == [5, 7, 9]
    dataset = [(loader.images[i], int(loader.labels[i])) for i in range(103)]
    stream = StreamLoader(dataset, loader.labels, batch_size=10, pipeline=loader.pipeline, train=True, seed=3)
    assert ids(stream.batches(1)) == ids(make().batches(1))
