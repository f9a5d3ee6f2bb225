import errno
import os
import pickle
import stat

import pytest
import torch

from trainlab.errors import CheckpointError, ConfigError, StorageError
from trainlab.files import atomic_file, check_writable, load_torch_file, read_text, storage_error, writing

from .faults import read_only_at


class Payload:
    """A pickle that would run code when unpickled without weights_only."""

    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


def test_a_malicious_pickle_is_refused_without_unsafe_advice(tmp_path):
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"model": Payload()}, f)
    torch.save({"model": Payload()}, tmp_path / "evil.pt")
    for path in (tmp_path / "evil.pkl", tmp_path / "evil.pt"):
        with pytest.raises(CheckpointError) as info:
            load_torch_file(path)
        message = str(info.value)
        assert "cannot be read safely" in message and "never unpickles" in message
        assert "weights_only" not in message and "False" not in message and "\n" not in message
    assert "it refers to posix.system" in message  # torch.save's pickle names the function it would call


def test_damaged_and_missing_files(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"model": {"w": torch.ones(2)}}, good)
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_torch_file(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_torch_file(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_torch_file(tmp_path)


def test_read_text_names_the_byte_that_is_not_utf8(tmp_path):
    path = tmp_path / "params.json"
    path.write_bytes('{"model": {"name": "caf\xe9"}}'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 at position 23"):
        read_text(path, what="params file")
    path.write_bytes(b"\xef\xbb\xbf{}")  # a byte-order mark is fine
    assert read_text(path) == "{}"
    path.write_bytes(b" " * 2048)
    with pytest.raises(ConfigError, match="at most 0 MB"):
        read_text(path, max_bytes=1024)


def test_check_writable_refuses_a_file_where_a_folder_must_be(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "checkpoints").write_text("not a folder")
    with pytest.raises(StorageError, match="checkpoints is a file, but trainlab needs a folder there"):
        check_writable(tmp_path / "exp", tmp_path / "exp" / "checkpoints")
    check_writable(tmp_path / "other" / "checkpoints")
    assert (tmp_path / "other" / "checkpoints").is_dir() and not list((tmp_path / "other" / "checkpoints").iterdir())


def test_check_writable_on_a_read_only_file_system(tmp_path, monkeypatch):
    read_only_at(monkeypatch, tmp_path)
    with pytest.raises(StorageError) as info:
        check_writable(tmp_path)
    assert "the file system is read-only (EROFS)" in str(info.value) and "\n" not in str(info.value)


def test_writing_says_whether_the_previous_file_is_intact(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"old")
    with pytest.raises(StorageError) as info:
        with writing(target):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert "the disk is full (ENOSPC); the previous file is intact" in str(info.value)
    with pytest.raises(StorageError) as info:
        with writing(tmp_path / "new.pt"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert "intact" not in str(info.value)
    message = str(storage_error(OSError(errno.ENOTDIR, "Not a directory", "/a/b"), "/a/b/c"))
    assert "a part of the path is a file" in message and "(ENOTDIR)" in message


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomically_written_files_honour_the_umask(tmp_path, umask, mode):
    from trainlab.files import atomic_write_bytes, current_umask

    old = os.umask(umask)
    try:
        assert current_umask() == umask
        atomic_write_bytes(tmp_path / "history.json", b"{}")  # before: 0o600 whatever the umask
        assert stat.S_IMODE((tmp_path / "history.json").stat().st_mode) == mode
    finally:
        os.umask(old)


def test_a_training_writes_files_others_can_read(tmp_path, tiny_params):
    from trainlab.config import parse_config
    from trainlab.runs import run_experiment

    old = os.umask(0o022)
    try:
        run_experiment(tmp_path, parse_config({**tiny_params, "train": {"epochs": 1}}))
    finally:
        os.umask(old)
    for name in ("checkpoints/last.pt", "checkpoints/best.pt", "history.json", "metrics_val_best.json",
                 "params.resolved.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_an_interrupted_atomic_file_leaves_no_file_and_the_old_one_intact(tmp_path):
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "out.csv", "w") as stream:
        stream.write("path\n")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_file(tmp_path / "out.csv", "w") as stream:
        stream.write("path\n")
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "out.csv", "w") as stream:
        stream.write("other\n")
        raise RuntimeError("interrupted")
    assert (tmp_path / "out.csv").read_text() == "path\n" and len(list(tmp_path.iterdir())) == 1
