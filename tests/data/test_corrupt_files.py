"""Corrupt dataset files: any damage to IDX files or an image folder gives batches or one DataError, never
another exception and never an allocation the header asked for without a check. ``-m slow`` runs thousands."""
import gzip
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from trainlab.config import DataConfig
from trainlab.data import data_from_config
from trainlab.data.datasets import read_idx
from trainlab.data.memory import check_memory, format_bytes
from trainlab.errors import MAX_LINE, DataError, TrainlabError

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()


def clean_fashion() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", 100), ("t10k", 10)):  # 10 per class: one of each class is carved for valid
        out[f"{prefix}-images-idx3-ubyte"] = idx_bytes(rng.integers(0, 255, (n, 6, 6), dtype=np.uint8))
        out[f"{prefix}-labels-idx1-ubyte"] = idx_bytes((np.arange(n) % 10).astype(np.uint8))
    return out


CLEAN = clean_fashion()


@st.composite
def corrupted_fashion(draw):
    """The four files with bytes overwritten, cut, appended, a header field rewritten, files swapped or gzipped."""
    files = dict(CLEAN)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(FILES))
        data = bytearray(files[name])
        kind = draw(st.sampled_from(["byte", "header", "cut", "append", "swap", "dims", "empty"]))
        if len(data) < 16 and kind in ("byte", "header", "dims"):
            kind = "append"
        event(kind)
        if kind == "byte":
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif kind == "header":  # a dimension claiming up to 2^32 - 1 entries
            at = 4 * draw(st.integers(1, 3))
            data[at:at + 4] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
        elif kind == "cut":
            del data[draw(st.integers(0, len(data))):]
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=20))
        elif kind == "dims":
            data[3] = draw(st.integers(0, 255))
        elif kind == "empty":
            data = bytearray()
        else:
            other = draw(st.sampled_from(FILES))
            files[other], data = bytes(data), bytearray(files[other])
        files[name] = bytes(data)
    return {name + (".gz" if draw(st.booleans()) else ""): data for name, data in files.items()}


def check(error: TrainlabError) -> None:
    assert "\n" not in str(error) and len(str(error)) <= MAX_LINE, str(error)


def load_all(cfg: DataConfig) -> str:
    """The property: every batch of every split comes out with labels in range, or one DataError."""
    try:
        data = data_from_config(cfg, seed=0)
        for split in ("train", "valid", "test"):
            loader = data.split(split) if split != "test" or data.test is not None else None
            for x, y in (loader.batches(0) if loader is not None else []):
                assert x.dtype == torch.float32 and int(y.min()) >= 0 and int(y.max()) < data.num_classes
    except TrainlabError as e:
        check(e)
        return f"rejected: {type(e).__name__}"
    return "accepted"


def fashion_property(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            Path(tmp, name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        event(load_all(DataConfig(name="fashion-mnist", root=tmp, batch_size=16)))


@settings(max_examples=150, deadline=None)
@given(corrupted_fashion())
def test_any_idx_corruption_gives_batches_or_one_line_error(files):
    fashion_property(files)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None)
@given(corrupted_fashion())
def test_any_idx_corruption_gives_batches_or_one_line_error_many(files):
    fashion_property(files)


def png(color: int, size=(5, 5)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (color, 255 - color, 0)).save(buf, format="PNG")
    return buf.getvalue()


@st.composite
def corrupted_folder(draw):
    """train/{a,b}/*.png with images cut, overwritten, emptied, replaced by text or by a huge declared size."""
    files = {f"{split}/{cls}/{i}.png": png(40 * i + (cls == "b") * 20)
             for split, n in (("train", 4), ("valid", 2)) for cls in ("a", "b") for i in range(n)}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(files)))
        kind = draw(st.sampled_from(["cut", "byte", "empty", "text", "huge", "delete", "stray", "gif"]))
        data = bytearray(files[name])
        if len(data) < 24 and kind in ("byte", "huge"):
            kind = "text"
        event(kind)
        if kind == "cut":
            files[name] = bytes(data[:draw(st.integers(0, len(data)))])
        elif kind == "byte":
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
            files[name] = bytes(data)
        elif kind == "empty":
            files[name] = b""
        elif kind == "text":
            files[name] = draw(st.binary(max_size=40))
        elif kind == "huge":  # a PNG header declaring 2^31 × 2^31 pixels
            data[16:24] = (2**31 - 1).to_bytes(4, "big") * 2
            files[name] = bytes(data)
        elif kind == "delete":
            files.pop(name)
        elif kind == "stray":  # a class folder only in valid
            files["valid/c/0.png"] = png(7)
        else:
            buf = io.BytesIO()
            Image.new("P", (3, 3)).save(buf, format="GIF")
            files[name] = buf.getvalue()
    return files


def folder_property(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            Path(tmp, name).parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, name).write_bytes(data)
        event(load_all(DataConfig(name="folder", root=tmp, image_size=(6, 6), channels=3, batch_size=4)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_folder())
def test_any_image_folder_corruption_gives_batches_or_one_line_error(files):
    folder_property(files)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_folder())
def test_any_image_folder_corruption_gives_batches_or_one_line_error_many(files):
    folder_property(files)


def test_a_header_claiming_terabytes_is_refused_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3 + b"\x00" * 10)
    with pytest.raises(DataError, match=r"would need .* TB of memory, but .* are available.*header may be damaged"):
        read_idx(path)


def test_memory_guard_states_both_numbers(monkeypatch):
    monkeypatch.setattr("trainlab.data.memory.available_memory", lambda: 2**30)
    check_memory(2**29, "half of it")
    with pytest.raises(DataError, match=r"the images would need 1.0 GB of memory, but 1.0 GB are available. Hint."):
        check_memory(2**30, "the images", hint="Hint.")
    assert format_bytes(512) == "512 B" and format_bytes(1.5 * 2**40) == "1.5 TB"


def test_synthetic_args_are_checked_before_allocating(monkeypatch):
    monkeypatch.setattr("trainlab.data.memory.available_memory", lambda: 2**30)
    with pytest.raises(DataError, match="would need"):
        data_from_config(DataConfig(name="synthetic", args={"samples": 10**7, "image_size": 64}), seed=0)
    with pytest.raises(DataError, match="data.args.samples is 'many'; it must be an integer >= 1"):
        data_from_config(DataConfig(name="synthetic", args={"samples": "many"}), seed=0)
