"""A run's splits are part of its identity: fingerprints recorded, changes refused on resume, said by evaluate."""
import json
import logging

import pytest
import torch
from PIL import Image

from trainlab.config import DataConfig, parse_config
from trainlab.data import data_from_config
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.errors import CheckpointError, ConfigError
from trainlab.runs import evaluate_checkpoint, run_experiment

from ..conftest import write_exp


def test_fingerprints_follow_the_samples_and_their_order():
    a = data_from_config(DataConfig(name="synthetic", args={"samples": 64, "image_size": 4}), seed=0)
    b = data_from_config(DataConfig(name="synthetic", args={"samples": 64, "image_size": 4}), seed=0)
    c = data_from_config(DataConfig(name="synthetic", args={"samples": 64, "image_size": 4}), seed=1)
    assert a.fingerprints == b.fingerprints and set(a.fingerprints) == {"train", "valid", "test"}
    assert a.fingerprints["valid"] != c.fingerprints["valid"]  # the seed carves other splits
    shuffled = a.valid.subset(torch.randperm(a.valid.num_samples, generator=torch.Generator().manual_seed(0)))
    assert shuffled.fingerprint != a.valid.fingerprint  # the same samples in another order


def test_the_run_records_its_splits_in_the_resolved_params_and_every_checkpoint(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    learner = run_experiment(exp, parse_config(tiny_params)).learner
    resolved = json.loads((exp / "params.resolved.json").read_text())
    assert resolved["_run"]["splits"] == learner.data.fingerprints
    for name in ("last.pt", "best.pt"):
        assert load_checkpoint(exp / "checkpoints" / name)["splits"] == learner.data.fingerprints


@pytest.mark.parametrize("override, named", [
    ("train.seed=1", "train.seed (it carves the splits while data.split_seed is unset)"),
    ("data.valid_fraction=0.3", "data.valid_fraction"),
    ("data.max_train_samples=100", "data.max_train_samples"),
    ("data.split_seed=5", "data.split_seed"),
    ("data.args.samples=300", "data.args"),
])
def test_resume_refuses_what_would_recarve_the_splits_even_with_force(tmp_path, tiny_params, override, named):
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config(tiny_params))
    with pytest.raises(ConfigError, match="cannot resume") as info:
        run_experiment(exp, parse_config(tiny_params, [override, "train.epochs=4"]), existing="resume", force=True)
    assert named in str(info.value)


def test_resume_with_a_new_seed_is_allowed_when_the_splits_have_their_own_seed(tmp_path, tiny_params):
    tiny_params["data"]["split_seed"] = 3
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config(tiny_params))
    out = run_experiment(exp, parse_config(tiny_params, ["train.seed=1", "train.epochs=4"]), existing="resume",
                         force=True)
    assert out.resumed and out.learner.loop.epoch == 4


def test_batch_size_cannot_change_inside_an_epoch(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config(tiny_params))
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    state["loop"]["batch"] = 2  # as if stopped mid-epoch
    torch.save(state, exp / "checkpoints" / "last.pt")
    with pytest.raises(ConfigError, match=r"data.batch_size \(the run stopped inside an epoch, after batch 2\)"):
        run_experiment(exp, parse_config(tiny_params, ["data.batch_size=16"]), existing="resume", force=True)


def image_folder(root, counts):
    for split, per_class in counts.items():
        for c, n in enumerate(per_class):
            (root / split / f"c{c}").mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.new("L", (6, 6), color=40 * c + i).save(root / split / f"c{c}" / f"{i}.png")
    return root


def test_files_that_changed_under_a_run_refuse_its_resume_and_warn_its_evaluation(tmp_path, tiny_params, caplog):
    root = image_folder(tmp_path / "data", {"train": [8, 8], "valid": [3, 3], "test": [3, 3]})
    params = {**tiny_params, "data": {"name": "folder", "root": str(root), "image_size": [6, 6], "channels": 1,
                                      "batch_size": 4}, "train": {"epochs": 1, "seed": 0}}
    exp = write_exp(tmp_path / "exp", params)
    run_experiment(exp, parse_config(params))
    (root / "valid" / "c0" / "0.png").rename(root / "train" / "c0" / "moved.png")  # a sample changes split
    with pytest.raises(CheckpointError, match="trained on other train and valid samples"):
        run_experiment(exp, parse_config(params, ["train.epochs=2"]), existing="resume", force=True)
    caplog.set_level(logging.WARNING, logger="trainlab")
    ev = evaluate_checkpoint(exp / "checkpoints" / "best.pt", exp, split="valid")
    assert "the valid split read now is not the one" in caplog.text
    assert json.loads(ev.metrics_path.read_text())["fingerprint"] != load_checkpoint(
        exp / "checkpoints" / "best.pt")["splits"]["valid"]
    caplog.clear()
    evaluate_checkpoint(exp / "checkpoints" / "best.pt", exp, split="test")  # the test files did not change
    assert "not the one" not in caplog.text
