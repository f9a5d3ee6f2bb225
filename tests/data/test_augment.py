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
