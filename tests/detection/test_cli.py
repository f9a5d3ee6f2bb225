"""`trainlab train / evaluate / viz` on detection folders (digit-scenes and a YOLO-format folder), resume
bit-identical mid-epoch, and the shipped example's params."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from trainlab.cli import main
from trainlab.config import load_config, parse_config
from trainlab.detection.yolo_format import write_yolo_dataset
from trainlab.engine import Callback
from trainlab.engine.factory import learner_from_config

from ..test_images import huge_png
from .helpers import scene_params, write_params

EXAMPLE = Path(__file__).resolve().parents[2] / "experiments" / "digit-scenes-yolo"


def test_train_evaluate_and_viz_a_digit_scenes_experiment(tmp_path, capsys) -> None:
    exp = write_params(tmp_path / "det", scene_params(
        data={"augment": "light"}, train={"epochs": 2, "early_stopping": {"monitor": "valid.map50", "mode": "max"}}))
    assert main(["train", str(exp)]) == 0, capsys.readouterr().err
    assert "best valid.map50" in capsys.readouterr().out
    rows = json.loads((exp / "history.json").read_text())["rows"]
    assert [r["epoch"] for r in rows] == [1, 2]
    last = rows[-1]
    assert {"train.loss", "train.box_loss", "valid.map50", "valid.map", "flops_per_sample"} <= set(last)
    assert "train.map50" not in last and len(last["valid.per_class.ap"]) == 10 and 0 <= last["valid.map50"] <= 1
    assert json.loads((exp / "params.resolved.json").read_text())["_run"]["augmentation"].startswith("boxes:")
    assert main(["evaluate", str(exp)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "mAP@0.5 " in out and "(16 images)" in out and "predictions_test.png" in out
    test = json.loads((exp / "metrics_test.json").read_text())
    assert {"map", "map50", "map75", "loss"} <= set(test) and len(test["per_class"]["ap50"]) == 10
    assert (exp / "predictions_test.png").stat().st_size > 10_000
    with np.load(exp / "predictions_test.npz") as preds:
        assert preds["objects"].sum() == sum(test["per_class"]["objects"]) and len(preds["found"]) == 16
    assert main(["viz", str(exp), "--what", "gradcam", "--index", "0", "1"]) == 0, capsys.readouterr().err
    assert (exp / "viz" / "gradcam-backbone.stage4.png").is_file()


def test_a_yolo_format_folder_trains_and_evaluates(tmp_path, tiny_scenes, capsys) -> None:
    splits, names = tiny_scenes
    write_yolo_dataset(tmp_path / "data", splits, names)
    exp = write_params(tmp_path / "yolo", scene_params(data={"name": "yolo-folder", "root": str(tmp_path / "data"),
                                                             "args": {"flip": False}, "augment": "standard"}))
    assert main(["train", str(exp)]) == 0, capsys.readouterr().err
    assert main(["evaluate", str(exp), "--split", "valid"]) == 0, capsys.readouterr().err
    metrics = json.loads((exp / "metrics_valid.json").read_text())
    assert metrics["images"] == 16 and 0 <= metrics["map50"] <= 1 and (exp / "predictions_valid.png").is_file()
    assert "warning" not in capsys.readouterr().err
    bad = tmp_path / "data" / "labels" / "train" / "000003.txt"
    bad.write_text("4 0.5 0.5 0.3\n")
    assert main(["train", str(exp), "--restart"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:1" in err and len(err.strip().splitlines()) == 1
    bad.write_text("4 0.5 0.5 0.3 0.3\n")
    shutil.rmtree(tmp_path / "data" / "labels" / "test")  # evaluate used to print mAP -1.0000 with exit 0
    assert main(["evaluate", str(exp)]) == 2
    err = capsys.readouterr().err
    assert "none of the 16 test images has a label file" in err and len(err.strip().splitlines()) == 1
    huge_png(tmp_path / "data" / "images" / "train" / "000007.png", 15_000, 12_000)
    assert main(["train", str(exp), "--restart"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "180,000,000 pixels" in err[0] and "TRAINLAB_MAX_IMAGE_PIXELS" in err[0]


def test_resume_from_a_mid_epoch_checkpoint_is_bit_identical(tmp_path) -> None:
    cfg = parse_config(scene_params(data={"augment": "standard", "args": {"size": 64, "scenes": [40, 16, 8],
                                                                          "objects": [1, 3], "object_size": [12, 24]}},
                                    model={"dropout": 0.0}, train={"epochs": 2}))

    class StopAt(Callback):
        def on_train_batch_end(self, learner):
            if learner.loop.epoch == 1 and learner.loop.batch == 1:
                learner.should_stop = True
                learner.save(tmp_path / "mid.pt")

    straight = learner_from_config(cfg).fit(2)
    learner_from_config(cfg, callbacks=[StopAt()]).fit(2)
    torch.manual_seed(99)  # loading restores every RNG, whatever ran in between
    resumed = learner_from_config(cfg).load(tmp_path / "mid.pt")
    assert (resumed.loop.epoch, resumed.loop.batch) == (1, 1)
    resumed.fit(2)
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    a, b = straight.history.rows[-1], resumed.history.rows[-1]
    assert a["train.loss"] == b["train.loss"] and a["valid.map"] == b["valid.map"]
    assert a["valid.per_class.ap"] == b["valid.per_class.ap"]


def test_monitoring_a_typo_fails_before_training(tmp_path, capsys) -> None:
    exp = write_params(tmp_path / "typo", scene_params(train={"monitor": "valid.map_50"}))
    assert main(["train", str(exp)]) == 2
    assert "Did you mean 'valid.map50'" in capsys.readouterr().err


def test_the_example_experiment_is_valid() -> None:
    cfg = load_config(EXAMPLE, [])
    assert cfg.data.name == "digit-scenes" and cfg.model.name == "yolo" and cfg.train.monitor == "valid.map50"
