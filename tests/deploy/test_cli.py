"""`trainlab predict` and `trainlab export` through the CLI, for each task, on tiny trained runs; the bundle
path in a process where torch cannot be imported; the bad inputs of the issue (one line, exit 2)."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import trainlab
from trainlab.cli import main

from .conftest import export, write_lines, write_scenes

pytest.importorskip("onnxruntime")

# Runs trainlab's CLI where importing torch (or torchvision, torchmetrics) fails, then lists what got imported.
NO_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "torchmetrics"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
sys.meta_path.insert(0, Block())
try:
    import torch
    sys.exit("torch imported although blocked")
except ModuleNotFoundError:
    pass
from trainlab.cli import main
code = main(sys.argv[1:])
print("TORCH MODULES:", sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "torchmetrics")),
      file=sys.stderr)
sys.exit(code)
"""


def without_torch(*argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(trainlab.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", NO_TORCH, *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert "TORCH MODULES: []" in done.stderr, done.stderr
    return done


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("trainlab: error: "), err
    return err


def write_digits(folder: Path, count: int = 6) -> list[int]:
    from sklearn.datasets import load_digits

    d = load_digits()
    folder.mkdir(parents=True)
    for i in range(count):  # 4× the 8×8 size: predict resizes them back
        img = Image.fromarray(np.round(d.images[i] * 255 / 16).astype(np.uint8)).resize((32, 32))
        img.save(folder / f"{i}.png")
    return d.target[:count].tolist()


def test_classifier_bundle_is_verified_self_describing_and_runs_without_torch(digits_run, digits_bundle, tmp_path,
                                                                              capsys, caplog):
    import onnx

    config = json.loads((digits_bundle / "config.json").read_text())
    assert config["task"] == "classification" and config["label_names"] == [str(i) for i in range(10)]
    assert config["input_size"] == [1, 8, 8] and config["graphs"]["model"]["exporter"] == "dynamo"
    assert len(config["checkpoint"]["sha256"]) == 64 and Path(config["params"]["file"]).name == "params.resolved.json"
    preprocess = json.loads((digits_bundle / "preprocess.json").read_text())
    assert preprocess["size"] == [8, 8] and preprocess["channels"] == 1 and len(preprocess["mean"]) == 1
    parity = json.loads((digits_bundle / "parity.json").read_text())
    assert parity["passed"] and [p["batch_size"] for p in parity["passes"]] == [1, 32]
    assert parity["answers"]["agreement"] == 1.0 and parity["passes"][1]["samples"] == parity["samples"] > 100
    model = onnx.load(str(digits_bundle / "model.onnx"))
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}  # JSON strings, not Python reprs
    assert meta["task"] == "classification" and meta["class_names"][3] == "3" and meta["input_layout"] == "NCHW"
    assert meta["checkpoint_sha256"] == config["checkpoint"]["sha256"]
    assert str(model.graph.input[0].type.tensor_type.shape.dim[0].dim_param)  # the batch is dynamic
    assert "accuracy" in (digits_bundle / "README.md").read_text() or "parity" in (digits_bundle / "README.md").read_text()

    images = tmp_path / "images"
    write_digits(images)
    (images / "broken.png").write_bytes(b"not an image")
    code, out, err = run(capsys, "predict", digits_run, images, "--format", "jsonl", "--top-k", "3")
    assert code == 0, err
    from_run = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["path"]).name for r in from_run] == [f"{i}.png" for i in range(6)]  # input order
    assert all(len(r["top"]) == 3 and r["top"][0]["prob"] >= r["top"][1]["prob"] for r in from_run)
    assert "broken.png" in caplog.text and "1 skipped" in err and "predicted 6 image(s)" in err

    done = without_torch("predict", digits_bundle, images, "--format", "jsonl", "--top-k", "3")
    assert done.returncode == 0, done.stderr
    from_bundle = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["top"][0]["class"] for r in from_bundle] == [r["top"][0]["class"] for r in from_run]
    assert np.allclose([r["top"][0]["prob"] for r in from_bundle], [r["top"][0]["prob"] for r in from_run], atol=1e-4)
    assert "broken.png" in done.stderr and "onnxruntime" in done.stderr


def test_predicting_a_folder_test_split_gives_evaluates_classes(folder_run, tmp_path, capsys):
    """The run's own evaluation preprocessing: the test split's files, predicted one by one from disk, get the
    classes `evaluate` stored in predictions_test.npz (same order: class folders sorted, then files)."""
    assert run(capsys, "evaluate", folder_run, "--split", "test")[0] == 0
    with np.load(folder_run / "predictions_test.npz") as f:
        expected = f["pred"]
    root = Path(json.loads((folder_run / "params.json").read_text())["data"]["root"])
    out = tmp_path / "test.csv"
    code, _, err = run(capsys, "predict", folder_run, root / "test", "--out", out, "--top-k", "1", "--batch-size", "5")
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    names = sorted(p.name for p in (root / "train").iterdir())
    assert [Path(r["path"]).parent.name for r in rows] == [names[k] for k in np.repeat(np.arange(4), 8)]
    assert [names.index(r["class_1"]) for r in rows] == expected.tolist()
    assert len(set(expected.tolist())) > 1  # a model that learned something, or the check means little


def test_detector_predicts_boxes_in_the_original_pixels_in_every_format(detector_run, tmp_path, capsys):
    bundle = export(detector_run, "--exporter", "legacy")  # the dynamo export of yolo takes ~15 s: see the slow test
    capsys.readouterr()
    config = json.loads((bundle / "config.json").read_text())
    assert config["task"] == "detection" and config["settings"]["strides"] == [8, 16, 32]
    assert json.loads((bundle / "parity.json").read_text())["passed"]
    scenes = write_scenes(tmp_path / "scenes")  # 128 wide, 96 high: twice and 1.5× the model's 64×64
    done = without_torch("predict", bundle, scenes, "--format", "jsonl", "--min-score", "0.01")
    assert done.returncode == 0, done.stderr
    from_bundle = [json.loads(line) for line in done.stdout.splitlines()]
    code, out, err = run(capsys, "predict", detector_run, scenes, "--format", "jsonl", "--min-score", "0.01")
    assert code == 0, err
    from_run = [json.loads(line) for line in out.splitlines()]
    assert [len(r["detections"]) for r in from_bundle] == [len(r["detections"]) for r in from_run]
    boxes = np.array([d["box"] for r in from_run for d in r["detections"]])
    assert np.allclose(boxes, [d["box"] for r in from_bundle for d in r["detections"]], atol=0.05)
    assert len(boxes) and (boxes >= 0).all() and (boxes[:, [0, 2]] <= 128).all() and (boxes[:, [1, 3]] <= 96).all()
    assert [(r["width"], r["height"]) for r in from_run] == [(128, 96)] * 3
    assert {"class", "class_id", "score", "box"} == set(from_run[0]["detections"][0])

    labels = tmp_path / "labels"
    code, _, err = run(capsys, "predict", bundle, scenes, "--format", "yolo-txt", "--out", labels, "--min-score", "0.01",
                       "--save-vis", tmp_path / "vis")
    assert code == 0, err
    from trainlab.detection.yolo_format import read_labels

    files = sorted(p.relative_to(labels).as_posix() for p in labels.rglob("*.txt"))
    assert files == ["sub/0.txt", "sub/1.txt", "sub/2.txt"]  # the layout under the SOURCE folder is kept
    for i, rec in enumerate(from_run):  # what yolo-folder reads: normalized xyxy, here back in the image's pixels
        boxes, classes = read_labels(labels / "sub" / f"{i}.txt", num_classes=10)
        assert classes.tolist() == [d["class_id"] for d in rec["detections"]]
        assert np.allclose(boxes.numpy() * [128, 96, 128, 96], [d["box"] for d in rec["detections"]], atol=0.05)
    assert sorted(p.name for p in (tmp_path / "vis").iterdir()) == ["0.png", "1.png", "2.png"]
    code, _, err = run(capsys, "predict", bundle, scenes, "--out", tmp_path / "coco.json", "--min-score", "0.01")
    assert code == 0, err
    coco = json.loads((tmp_path / "coco.json").read_text())
    boxes_all = [d for r in from_run for d in r["detections"]]
    assert len(coco) == len(boxes_all)
    assert set(coco[0]) == {"image_id", "category_id", "bbox", "score"} and coco[0]["image_id"] == 1
    x1, y1, x2, y2 = boxes_all[0]["box"]
    assert np.allclose(coco[0]["bbox"], [x1, y1, x2 - x1, y2 - y1], atol=0.05)
    code, _, err = run(capsys, "predict", bundle, scenes, "--out", tmp_path / "d.csv", "--min-score", "0.5")
    rows = list(csv.reader((tmp_path / "d.csv").open()))
    assert code == 0 and rows[0] == ["path", "class", "class_id", "score", "x1", "y1", "x2", "y2"]
    assert {r[0] for r in rows[1:]} == {str(scenes / "sub" / f"{i}.png") for i in range(3)}  # even without boxes


def test_ctc_reader_bundle_reads_the_lines_the_run_reads(ctc_run, tmp_path, capsys):
    bundle = export(ctc_run)
    capsys.readouterr()
    config = json.loads((bundle / "config.json").read_text())
    assert config["task"] == "ocr-ctc" and config["graphs"]["model"]["exporter"].startswith("legacy (recurrent")
    preprocess = json.loads((bundle / "preprocess.json").read_text())
    assert preprocess["resize"] == "height" and preprocess["height"] == 16 and preprocess["invert"] == "auto"
    parity = json.loads((bundle / "parity.json").read_text())
    assert parity["passed"] and len(parity["passes"][0]["widths"]) >= 2  # lines of several widths
    lines = write_lines(tmp_path / "lines")
    code, out, err = run(capsys, "predict", ctc_run, lines, "--format", "jsonl")
    assert code == 0, err
    done = without_torch("predict", bundle, lines, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    from_run, from_bundle = ([json.loads(x) for x in s.splitlines()] for s in (out, done.stdout))
    assert [r["text"] for r in from_bundle] == [r["text"] for r in from_run]
    assert all(len(r["char_confidence"]) == len(r["text"]) for r in from_bundle)


def test_attention_reader_exports_an_encoder_and_a_decoder_step_looped_on_the_host(attention_run, tmp_path, capsys):
    bundle = export(attention_run)
    capsys.readouterr()
    assert sorted(p.name for p in bundle.glob("*.onnx")) == ["decoder_step.onnx", "encoder.onnx"]
    config = json.loads((bundle / "config.json").read_text())
    assert config["task"] == "ocr-attention" and config["settings"]["max_length"] == 6
    assert json.loads((bundle / "parity.json").read_text())["passed"]
    lines = write_lines(tmp_path / "lines")
    code, out, err = run(capsys, "predict", attention_run, lines, "--format", "jsonl")
    assert code == 0, err
    done = without_torch("predict", bundle, lines, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["text"] for x in done.stdout.splitlines()] == [json.loads(x)["text"] for x in out.splitlines()]


def test_sources_lists_stdin_and_globs(digits_bundle, tmp_path, capsys, monkeypatch, caplog):
    images = tmp_path / "images"
    write_digits(images, count=3)
    (tmp_path / "list.txt").write_text("# a comment\nimages/2.png\nimages/0.png\nimages/gone.png\n")
    code, out, err = run(capsys, "predict", digits_bundle, f"@{tmp_path / 'list.txt'}", "--top-k", "1")
    assert code == 0, err
    assert [Path(r.split(",")[0]).name for r in out.splitlines()[1:]] == ["2.png", "0.png"]
    assert "gone.png" in caplog.text and "1 skipped" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{images / '1.png'}\n{images}/[02].png\n"))
    code, out, err = run(capsys, "predict", digits_bundle, "-", str(images / "*.png"), "--top-k", "1")
    assert code == 0, err
    assert [Path(r.split(",")[0]).name for r in out.splitlines()[1:]] == ["1.png", "0.png", "2.png", "0.png", "1.png",
                                                                           "2.png"]


def test_bad_inputs_are_one_line_errors(digits_run, digits_bundle, detector_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here")
    assert "holds no image" in one_line_error(capsys, "predict", digits_bundle, empty)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    err = one_line_error(capsys, "predict", digits_bundle, tmp_path / "corrupt.png", "--out", tmp_path / "p.csv")
    assert "none of the 1 file(s) could be read" in err and not (tmp_path / "p.csv").exists()
    assert "does not exist" in one_line_error(capsys, "predict", digits_bundle, tmp_path / "nope.png")
    other = detector_run / "checkpoints" / "best.pt"
    assert "'yolo' model" in one_line_error(capsys, "predict", digits_run, tmp_path, "--checkpoint", other)
    assert "'yolo' model" in one_line_error(capsys, "export", digits_run, "--checkpoint", other, "--out",
                                            tmp_path / "b")
    assert "exists already; pass --force" in one_line_error(capsys, "export", digits_run)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    assert "not a trainlab bundle" in one_line_error(capsys, "export", digits_run, "--out", tmp_path / "mine", "--force")
    assert "--checkpoint and --set apply" in one_line_error(capsys, "predict", digits_bundle, tmp_path, "--set",
                                                             "data.batch_size=2")
    assert "writes boxes" in one_line_error(capsys, "predict", digits_bundle, tmp_path, "--format", "yolo-txt",
                                            "--out", tmp_path / "labels")
    for missing in ("model.onnx", "preprocess.json", "config.json"):
        broken = tmp_path / f"without-{missing}"
        shutil.copytree(digits_bundle, broken)
        (broken / missing).unlink()
        assert f"missing {missing}" in one_line_error(capsys, "predict", broken, tmp_path / "corrupt.png")


@pytest.mark.slow
def test_the_detector_exports_with_dynamo_and_any_multiple_of_32(detector_run, tmp_path, capsys):
    """The default exporter on the detector (~15 s of torch.export): dynamic batch, height and width."""
    import onnx
    import onnxruntime as ort

    bundle = export(detector_run, "--out", tmp_path / "bundle")
    capsys.readouterr()
    assert json.loads((bundle / "config.json").read_text())["graphs"]["model"]["exporter"] == "dynamo"
    assert json.loads((bundle / "parity.json").read_text())["passed"]
    dims = onnx.load(str(bundle / "model.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert all(d.dim_param for d in (dims[0], dims[2], dims[3]))
    raw = ort.InferenceSession(str(bundle / "model.onnx")).run(None, {"image": np.zeros((3, 1, 96, 128), np.float32)})[0]
    assert raw.shape == (3, 12 * 16 + 6 * 8 + 3 * 4, 15)
