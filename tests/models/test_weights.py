"""load_pretrained: round trips, head replacement, dropout key mapping, and clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from trainlab.errors import ModelError
from trainlab.models import build_model, load_pretrained


def _resnet(num_classes: int = 10, dropout: float = 0.0, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("resnet18", num_classes=num_classes, in_channels=1, input_size=(16, 16), small_stem=True,
                       dropout=dropout).eval()


def _with_random_bn_stats(model: nn.Module) -> nn.Module:
    for m in model.modules():  # non-trivial running statistics, so buffers matter in the comparison
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model


def test_state_dict_round_trip_gives_same_outputs(tmp_path: Path) -> None:
    source = _with_random_bn_stats(_resnet(seed=1))
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    target = _resnet(seed=2)
    x = torch.randn(3, 1, 16, 16)
    assert not torch.allclose(source(x), target(x))
    assert load_pretrained(target, path) == []
    assert torch.allclose(source(x), target(x))


def test_trainlab_checkpoint_with_other_class_count_replaces_head(tmp_path: Path) -> None:
    source = _with_random_bn_stats(_resnet(num_classes=10, seed=1))
    path = tmp_path / "last.pt"
    torch.save({"model": source.state_dict(), "epoch": 3, "optimizer": {}}, path)
    target = _resnet(num_classes=4, seed=2)
    fresh_head = target.fc.weight.detach().clone()
    assert load_pretrained(target, path) == ["fc.weight", "fc.bias"]
    assert torch.equal(target.fc.weight, fresh_head)  # the head kept its own initialisation
    source_sd, target_sd = source.state_dict(), target.state_dict()
    for key, value in target_sd.items():
        if not key.startswith("fc."):
            assert torch.equal(value, source_sd[key]), key
    # Features are equal: the outputs before the head agree.
    x = torch.randn(2, 1, 16, 16)
    source.fc, target.fc = nn.Identity(), nn.Identity()
    assert torch.allclose(source(x), target(x))


def test_torchvision_keys_map_onto_a_dropout_wrapped_head(tmp_path: Path) -> None:
    plain = _resnet(num_classes=10, dropout=0.0, seed=1)
    path = tmp_path / "plain.pth"
    torch.save(plain.state_dict(), path)  # keys fc.weight / fc.bias, as torchvision ships them
    wrapped = _resnet(num_classes=10, dropout=0.3, seed=2)
    assert isinstance(wrapped.fc, nn.Sequential)
    assert load_pretrained(wrapped, path) == []
    assert torch.equal(wrapped.fc[1].weight, plain.fc.weight)
    x = torch.randn(2, 1, 16, 16)
    assert torch.allclose(wrapped.eval()(x), plain(x))
    # And back: a dropout-trained checkpoint loads into a plain model.
    torch.save({"model": wrapped.state_dict()}, tmp_path / "wrapped.pt")
    other = _resnet(num_classes=10, dropout=0.0, seed=3)
    assert load_pretrained(other, tmp_path / "wrapped.pt") == []
    assert torch.equal(other.fc.bias, plain.fc.bias)


def test_wrapper_prefixes_are_stripped(tmp_path: Path) -> None:
    source = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, tmp_path / "ddp.pt")
    target = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    assert load_pretrained(target, tmp_path / "ddp.pt") == []
    assert torch.equal(target.stem[0].weight, source.stem[0].weight)


def test_shape_mismatch_outside_head_names_file(tmp_path: Path) -> None:
    source = build_model("cnn_tiny", num_classes=10, in_channels=3, input_size=(8, 8))
    path = tmp_path / "rgb.pt"
    torch.save(source.state_dict(), path)
    target = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    before = target.stem[0].weight.detach().clone()
    with pytest.raises(ModelError) as info:
        load_pretrained(target, path)
    message = str(info.value)
    assert str(path) in message and "stem.0.weight" in message
    assert torch.equal(target.stem[0].weight, before)  # nothing loaded on error


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    torch.save(build_model("mlp", num_classes=10, in_channels=1, input_size=(8, 8)).state_dict(), tmp_path / "m.pt")
    with pytest.raises(ModelError, match="keys not in the model.*missing from the file"):
        load_pretrained(build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8)), tmp_path / "m.pt")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(ModelError, match="nope.pt.*does not exist"):
        load_pretrained(build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8)), path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="broken.pt"):
        load_pretrained(build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8)), path)


def test_file_without_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "stats.pt"
    torch.save({"epoch": 3, "history": [1.0, 2.0]}, path)
    with pytest.raises(ModelError, match="not a state dict"):
        load_pretrained(build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8)), path)


def test_pickled_module_is_refused_by_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), path)  # a whole pickled module, not weights_only-loadable
    with pytest.raises(ModelError, match="module.pt"):
        load_pretrained(build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8)), path)


def test_a_file_that_is_no_state_dict_lists_its_keys_readably(tmp_path: Path) -> None:
    from trainlab.engine.checkpoint import load_checkpoint
    from trainlab.errors import CheckpointError

    full = {k: 0 for k in ("format", "optimizer", "scaler", "loop", "rng", "history", "train_metrics",
                           "class_names", "callbacks", "config", "versions")}  # a checkpoint whose weights are lost
    torch.save(full, tmp_path / "last.pt")
    with pytest.raises(ModelError) as info:
        load_pretrained(_resnet(), tmp_path / "last.pt")
    message = str(info.value)  # before: "['callbacks', 'class_names', 'config', 'fo…' (list of 11)"
    assert ("holds a dict with keys callbacks, class_names, config, format, history, loop, optimizer, rng, scaler, "
            "… (11 in all), not a "
            "state dict; pass a torchvision state dict") in message and " … " not in message.replace(", … (", "")
    torch.save(_resnet().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match=r"holds a dict with keys bn1\.bias, bn1\.num_batches_tracked, .* \(122 in all\), not"):
        load_checkpoint(tmp_path / "weights.pt")
