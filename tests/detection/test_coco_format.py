"""COCO JSON datasets: read back exactly, crowd boxes, errors naming the file and annotation, and the results
JSON scored by pycocotools."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from trainlab.cli import main
from trainlab.detection.coco_format import read_coco_dataset
from trainlab.detection.coco_results import coco_results, write_coco_results
from trainlab.detection.metrics import DetectionMetrics
from trainlab.errors import DataError

from .helpers import scene_params, write_params

CATEGORY = [11, 12, 15, 20, 21, 30, 31, 33, 40, 90]  # COCO-style ids with gaps, for digits 0-9


def write_coco(root: Path, splits: dict, names: list[str], *, layout: str = "coco") -> dict[str, Path]:
    """The scenes as COCO files (image ids 100, 103, 106, ...; bbox in pixels; the first test box a crowd)."""
    files = {}
    for split, s in splits.items():
        if s is None:
            continue
        key = {"valid": "val"}.get(split, split)
        if layout == "coco":
            images, ann = root / "images" / key, root / "annotations" / f"instances_{key}.json"
        else:  # Roboflow: the annotations beside the images
            images = root / {"valid": "valid"}.get(split, split)
            ann = images / "_annotations.coco.json"
        images.mkdir(parents=True, exist_ok=True)
        ann.parent.mkdir(parents=True, exist_ok=True)
        spec = {"images": [], "annotations": [], "categories": [{"id": c, "name": n} for c, n in zip(CATEGORY, names)]}
        for i in range(len(s)):
            name = f"{i:04d}.png"
            Image.fromarray(s.images[i, 0].numpy()).save(images / name)
            h, w = s.images.shape[-2:]
            spec["images"].append({"id": 100 + 3 * i, "file_name": name, "width": w, "height": h})
            for (x1, y1, x2, y2), k in zip(s.boxes[i][s.labels[i] >= 0].tolist(), s.labels[i][s.labels[i] >= 0].tolist()):
                spec["annotations"].append({"id": len(spec["annotations"]) + 1, "image_id": 100 + 3 * i,
                                            "category_id": CATEGORY[k], "bbox": [x1, y1, x2 - x1, y2 - y1],
                                            "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        if split == "test":
            spec["annotations"][0]["iscrowd"] = 1
        ann.write_text(json.dumps(spec))
        files[split] = ann
    return files


@pytest.fixture
def coco_root(tmp_path, tiny_scenes) -> Path:
    splits, names = tiny_scenes
    write_coco(tmp_path / "coco", splits, names)
    return tmp_path / "coco"


def test_read_back_with_classes_in_id_order_crowd_flags_and_ids(coco_root, tiny_scenes, caplog) -> None:
    splits, names = tiny_scenes
    with caplog.at_level("INFO", logger="trainlab"):
        read, read_names = read_coco_dataset(coco_root)
    assert read_names == names
    for name in ("train", "valid", "test"):
        a, b = splits[name], read[name]
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert torch.allclose(a.boxes, b.boxes, atol=1e-4)
        assert b.category_ids == CATEGORY and b.image_ids.tolist() == [100 + 3 * i for i in range(len(a))]
        assert b.sizes.tolist() == [[64, 64]] * len(a)
    assert read["test"].crowd.sum() == 1 and read["test"].crowd[0, 0] and not read["train"].crowd.any()
    assert read["test"].without_crowd().counts.sum() == read["test"].counts.sum() - 1
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "categories 11, 12, 15, 20, 21, 30, 31, 33, 40, 90 are classes 0-9" in said
    assert "1 of" in said and "test boxes are crowd boxes" in said


def test_roboflow_layout_explicit_args_and_resizing(tmp_path, tiny_scenes) -> None:
    splits, names = tiny_scenes
    write_coco(tmp_path / "rf", {"train": splits["train"], "valid": splits["valid"]}, names, layout="roboflow")
    read, _ = read_coco_dataset(tmp_path / "rf", image_size=(32, 96), channels=3)
    assert read["test"] is None and read["train"].images.shape[1:] == (3, 32, 96)
    scale = torch.tensor([96 / 64, 32 / 64, 96 / 64, 32 / 64])
    assert torch.allclose(read["valid"].boxes, splits["valid"].boxes * scale, atol=1e-3)
    args = {"train": "train/_annotations.coco.json", "val": {"annotations": "valid/_annotations.coco.json",
                                                              "images": "valid"}}
    assert len(read_coco_dataset(tmp_path / "rf", args=args)[0]["valid"]) == 16
    with pytest.raises(DataError, match="data.args.val must be an annotations file"):
        read_coco_dataset(tmp_path / "rf", args={"train": "train/_annotations.coco.json", "val": None})
    (tmp_path / "rf" / "valid").rename(tmp_path / "rf" / "holdout")
    with pytest.raises(DataError, match="no valid annotations in .*{val,valid,validation}/_annotations.coco.json; name the file"):
        read_coco_dataset(tmp_path / "rf")
    with pytest.raises(DataError, match="unknown data.args"):
        read_coco_dataset(tmp_path / "rf", args={"training": "x.json"})


def _edit(path: Path, change) -> None:
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["annotations"][1].update(image_id=5), "annotation 2: image_id 5 is not in 'images'"),
    (lambda s: s["annotations"][1].update(category_id=13), "annotation 2 \\(image 10\\d, 000\\d.png\\): category_id 13 is"),
    (lambda s: s["annotations"][1].update(bbox=[1, 2, 3]), "annotation 2 .*bbox must be \\[x, y, width, height\\]"),
    (lambda s: s["annotations"][1].update(bbox=[1, 2, float("nan"), 3]), "annotation 2 .*4 finite numbers"),
    (lambda s: s["annotations"][1].update(bbox=[1, 2, -3, 3]), "annotation 2 .*must be positive"),
    (lambda s: s["annotations"][1].update(bbox=[50, 2, 30, 3]), "annotation 2 .*reaches outside the 64×64 image"),
    (lambda s: s["annotations"][1].update(iscrowd=2), "annotation 2 .*iscrowd must be 0 or 1"),
    (lambda s: s["images"][1].update(file_name="gone.png"), "image 103: file .*gone.png does not exist"),
    (lambda s: s["images"][1].update(width=65), "image 103 \\(0001.png\\) is 64×64 as shown but the file says 65×64"),
    (lambda s: s["images"].append(dict(s["images"][0])), "image id 100 appears twice"),
    (lambda s: s["categories"].pop(), "categories differ from the training file's: missing id 90 \\('9'\\)"),
    (lambda s: s.update(annotations=[]), "the 16 valid images have no annotations at all"),
    (lambda s: s.pop("images"), "expected a COCO object"),
])
def test_errors_name_the_file_and_the_annotation(coco_root, change, message) -> None:
    path = coco_root / "annotations" / "instances_val.json"
    _edit(path, change)
    with pytest.raises(DataError, match=message) as err:
        read_coco_dataset(coco_root)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def _cocoeval(gt_file: Path, results: list[dict]) -> float:
    """mAP@0.5:0.95 of ``results`` by pycocotools itself (loadRes + COCOeval, bbox)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def test_results_json_is_scored_by_pycocotools_as_the_metric_scores_it(tmp_path, coco_root) -> None:
    read, _ = read_coco_dataset(coco_root, image_size=(32, 32))  # model pixels: half the files' size
    s = read["test"]
    gen = torch.Generator().manual_seed(0)
    detections = []
    for i in range(len(s)):
        keep = s.labels[i] >= 0
        boxes = s.boxes[i][keep] + torch.randn(int(keep.sum()), 4, generator=gen) * 1.0  # imperfect boxes
        detections.append({"boxes": boxes, "scores": torch.rand(len(boxes), generator=gen), "labels": s.labels[i][keep]})
    detections[0]["boxes"] = torch.cat([detections[0]["boxes"], torch.tensor([[1.0, 1.0, 9.0, 9.0]])])  # a false alarm
    detections[0]["scores"] = torch.cat([detections[0]["scores"], torch.tensor([0.99])])
    detections[0]["labels"] = torch.cat([detections[0]["labels"], torch.tensor([0])])
    results = coco_results(detections, s.image_ids.tolist(), category_ids=s.category_ids,
                           scales=[(2.0, 2.0)] * len(s))
    path = write_coco_results(tmp_path / "detections_test.json", results)
    assert json.loads(path.read_text()) == results and {r["category_id"] for r in results} <= set(CATEGORY)
    scored = _cocoeval(coco_root / "annotations" / "instances_test.json", results)
    assert 0.2 < scored < 0.95  # the noise costs something at high IoU thresholds
    # trainlab's metric (torchmetrics' COCOeval on the model's pixels, the crowd box as iscrowd) agrees
    from types import SimpleNamespace

    from trainlab.detection.data import DetectionTargets

    metric = DetectionMetrics(num_classes=10)
    for i, d in enumerate(detections):
        rows = torch.cat([torch.zeros(len(d["boxes"]), 1), d["boxes"], d["scores"][:, None], d["labels"][:, None]], 1)
        y = DetectionTargets(s.boxes[i:i + 1], s.labels[i:i + 1], torch.tensor([i]), s.crowd[i:i + 1])
        metric.update(SimpleNamespace(detections=rows, parts={}), y, torch.zeros(1))
    assert metric.compute()["map"] == pytest.approx(scored, abs=2e-3)
    assert sum(metric.compute()["per_class"]["objects"]) == int(s.counts.sum()) - 1  # the crowd box is no object


def test_coco_results_checks_lengths_and_maps_ids() -> None:
    out = coco_results([{"boxes": torch.zeros(0, 4), "scores": [], "labels": []},
                        {"boxes": [[0, 0, 2, 4]], "scores": [0.5], "labels": [0]}], [3, 4])
    assert out == [{"image_id": 4, "category_id": 0, "bbox": [0.0, 0.0, 2.0, 4.0], "score": 0.5}]
    with pytest.raises(ValueError, match="one of each per image"):
        coco_results([], [1])


def test_train_and_evaluate_a_coco_folder_writes_detections_pycocotools_scores(tmp_path, coco_root, capsys) -> None:
    exp = write_params(tmp_path / "exp", scene_params(data={"name": "coco", "root": str(coco_root),
                                                            "image_size": [32, 32], "args": {"flip": False}},
                                                      train={"epochs": 1}, detection={"score_threshold": 1e-6}))
    assert main(["train", str(exp)]) == 0, capsys.readouterr().err
    assert main(["evaluate", str(exp)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "detections_test.json" in out
    metrics = json.loads((exp / "metrics_test.json").read_text())
    results = json.loads((exp / "detections_test.json").read_text())
    assert results and {r["image_id"] for r in results} <= {100 + 3 * i for i in range(16)}
    assert max(r["bbox"][0] + r["bbox"][2] for r in results) > 33  # in the files' 64-pixel frame, not the model's 32
    scored = _cocoeval(coco_root / "annotations" / "instances_test.json", results)
    assert scored == pytest.approx(metrics["map"], rel=1e-3, abs=1e-9)  # one epoch: tiny, but the same number
