import torch

from trainlab.data.augment import BatchPipeline, channel_stats, random_crop, random_erase, random_hflip


def test_crop_is_a_shift_within_the_padding():
    x = torch.arange(2 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for b in range(2):
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.zeros(6, 6)
                ys, xs = slice(max(0, -dy), min(6, 6 - dy)), slice(max(0, -dx), min(6, 6 - dx))
                ys2, xs2 = slice(max(0, dy), min(6, 6 + dy)), slice(max(0, dx), min(6, 6 + dx))
                shifted[ys, xs] = x[b, 0, ys2, xs2]
                found |= torch.equal(out[b, 0], shifted)
        assert found


def test_flip_and_erase():
    x = torch.rand(64, 1, 5, 5)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = [(torch.equal(o, i.flip(2))) for o, i in zip(out, x)]
    kept = [(torch.equal(o, i)) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54
    erased = random_erase(x + 1, torch.Generator().manual_seed(0), p=1.0)
    assert all(bool((e == 0).any()) for e in erased)


def test_pipeline_normalizes_and_is_deterministic():
    images = torch.randint(0, 256, (500, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_stats(images)
    ref = images.double().div(255)
    assert torch.allclose(torch.tensor(mean, dtype=torch.float64), ref.mean((0, 2, 3)), atol=1e-6)
    assert torch.allclose(torch.tensor(std, dtype=torch.float64), ref.std((0, 2, 3), unbiased=False), atol=1e-6)
    pipe = BatchPipeline(mean=mean, std=std, augment="light")
    plain = pipe(images, None)
    assert abs(float(plain.mean())) < 1e-3 and abs(float(plain.std()) - 1) < 1e-2
    a = pipe(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, pipe(images, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, plain)
    assert "horizontal flip" not in BatchPipeline(mean=mean, std=std, augment="light", flip=False).describe()


def test_the_flip_preset_only_mirrors_and_is_refused_where_a_mirror_changes_the_label():
    import pytest

    from trainlab.config import DataConfig
    from trainlab.data import data_from_config
    from trainlab.errors import DataError

    images = torch.randint(0, 256, (64, 1, 6, 6), dtype=torch.uint8)
    pipe = BatchPipeline(mean=[0.0], std=[1 / 255], augment="flip")
    out, plain = pipe(images, torch.Generator().manual_seed(0)), pipe(images, None)
    mirrored = [torch.equal(o, p.flip(-1)) and not torch.equal(o, p) for o, p in zip(out, plain)]
    assert all(m or torch.equal(o, p) for m, o, p in zip(mirrored, out, plain)) and 10 < sum(mirrored) < 54
    assert pipe.describe() == "horizontal flip"
    with pytest.raises(DataError, match="dataset 'digits' says a mirrored image does not keep its label"):
        data_from_config(DataConfig(name="digits", augment="flip"), seed=0)
