import gzip

import numpy as np
import pytest
import torch

from trainlab.config import DataConfig
from trainlab.data import data_from_config
from trainlab.data.datasets import read_idx
from trainlab.errors import DataError


def test_digits_splits_are_disjoint_and_stratified():
    data = data_from_config(DataConfig(name="digits", test_fraction=0.2, valid_fraction=0.1), seed=0)
    sizes = [data.train.num_samples, data.valid.num_samples, data.test.num_samples]
    assert sum(sizes) == 1797 and data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert data.test.num_samples == pytest.approx(0.2 * 1797, abs=10)
    imgs = [loader.images.flatten(1) for loader in (data.train, data.valid, data.test)]
    all_rows = torch.cat(imgs)
    assert len(torch.unique(all_rows, dim=0)) >= len(all_rows) - 20  # a few digits images are exact duplicates
    assert torch.bincount(data.valid.labels).min() >= 10



def test_split_seed_fixes_the_splits_while_the_run_seed_changes_the_order():
    cfg = DataConfig(name="digits", split_seed=7, max_train_samples=600)
    a, b = data_from_config(cfg, seed=0), data_from_config(cfg, seed=1)
    for split in ("train", "valid", "test"):
        assert torch.equal(getattr(a, split).images, getattr(b, split).images)
    assert not torch.equal(next(iter(a.train.batches(0)))[1], next(iter(b.train.batches(0)))[1])
    c = data_from_config(DataConfig(name="digits", max_train_samples=600), seed=7)  # split_seed null: the run's
    assert torch.equal(a.valid.images, c.valid.images) and torch.equal(a.train.images, c.train.images)


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_fashion(tmp_path):
    root = tmp_path / "fashion-mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 200), ("t10k", 50)):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def test_fashion_mnist_reads_idx_from_root_or_env(fake_fashion, monkeypatch):
    data = data_from_config(DataConfig(name="fashion-mnist", root=str(fake_fashion)), seed=0)
    assert (data.train.num_samples, data.valid.num_samples, data.test.num_samples) == (180, 20, 50)
    assert data.input_shape == (1, 28, 28) and data.class_names[0] == "T-shirt/top"
    monkeypatch.setenv("TRAINLAB_DATA", str(fake_fashion.parent))  # a parent holding fashion-mnist/ works too
    assert data_from_config(DataConfig(name="fashion-mnist"), seed=0).test.num_samples == 50


def test_missing_root_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TRAINLAB_DATA", raising=False)
    with pytest.raises(DataError, match="set data.root"):
        data_from_config(DataConfig(name="fashion-mnist"), seed=0)
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        data_from_config(DataConfig(name="fashion-mnist", root=str(tmp_path)), seed=0)


def test_truncated_idx(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_synthetic_options_and_errors():
    data = data_from_config(DataConfig(name="synthetic", args={"num_classes": 3, "channels": 3, "image_size": 6}),
                            seed=1)
    assert data.num_classes == 3 and data.input_shape == (3, 6, 6)
    with pytest.raises(DataError, match="unknown data.args"):
        data_from_config(DataConfig(name="synthetic", args={"classes": 3}), seed=0)
    with pytest.raises(Exception, match="Did you mean 'digits'"):
        data_from_config(DataConfig(name="digit"), seed=0)


def test_max_train_samples_and_channel_check():
    data = data_from_config(DataConfig(name="digits", max_train_samples=100), seed=0)
    assert data.train.num_samples == 100
    with pytest.raises(DataError, match="channels"):
        data_from_config(DataConfig(name="digits", mean=[0.1, 0.2], std=[1, 1]), seed=0)


def test_digits_are_read_as_scikit_learn_loads_them():
    from sklearn.datasets import load_digits

    from trainlab.data.datasets import digits_arrays

    images, labels = digits_arrays()
    d = load_digits()
    assert np.array_equal(images, d.images) and np.array_equal(labels, d.target) and labels.dtype.kind == "i"


@pytest.mark.parametrize("samples", [1, 3, 9, 10, 11])
def test_max_train_samples_keeps_exactly_that_many_even_below_the_class_count(samples):
    data = data_from_config(DataConfig(name="digits", max_train_samples=samples), seed=0)  # before: 1 -> refused,
    assert data.train.num_samples == samples  # "has no training samples" (each class's share rounded to 0)


def test_image_size_or_channels_a_dataset_ignores_are_refused(fake_fashion):
    with pytest.raises(DataError, match=r"^data.image_size is \[20000, 20000\], but dataset 'fashion-mnist' does not "
                                        r"resize: its images are 28×28. Remove data.image_size"):
        data_from_config(DataConfig(name="fashion-mnist", root=str(fake_fashion), image_size=(20000, 20000)), seed=0)
    with pytest.raises(DataError, match="data.channels is 3, but dataset 'digits' does not convert"):
        data_from_config(DataConfig(name="digits", channels=3), seed=0)
    data = data_from_config(DataConfig(name="fashion-mnist", root=str(fake_fashion), image_size=(28, 28)), seed=0)
    assert data.input_shape == (1, 28, 28)  # what it already is: nothing to refuse


def test_given_mean_and_std_need_no_statistics_and_their_memory(tmp_path, monkeypatch):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "train" / c).mkdir(parents=True)
        for i in range(12):
            Image.new("L", (4, 4), 40 * i % 255).save(tmp_path / "train" / c / f"{i}.png")
    image = 3 * 200 * 200  # bytes of one image as the data builds it: 3×200×200 uint8
    monkeypatch.setattr("trainlab.data.memory.available_memory", lambda: 20 * image)  # 10 images' worth usable
    cfg = dict(name="folder", root=str(tmp_path), image_size=(200, 200), batch_size=1, valid_fraction=0.2)
    with pytest.raises(DataError, match="the normalization statistics .* Or set data.mean and data.std"):
        data_from_config(DataConfig(**cfg), seed=0)
    data = data_from_config(DataConfig(**cfg, mean=[0.5] * 3, std=[0.25] * 3), seed=0)  # before: the same refusal
    assert data.mean == [0.5] * 3 and data.train.num_samples == 20
