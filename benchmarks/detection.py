"""Benchmark the ``yolo`` detector (trainlab.detection) on digit-scenes: test mAP against training time, and,
when the ``ultralytics`` package is installed (the ``bench`` extra), ultralytics' YOLOv8n trained from its
yaml (no pretrained weights, no network) on the same scenes, exported in the YOLO format, for the same
wall time.

Protocol: trainlab trains the example ``experiments/digit-scenes-yolo`` (its params, in a temporary folder,
``--epochs`` overriding the epoch count), with ``train.num_threads`` = --threads; the history gives the
valid mAP after every epoch with the cumulative wall time. Its train / valid / test scenes are then
written as a YOLO folder and YOLOv8n trains on them in a child process (same thread count: ``OMP_NUM_THREADS``
is set before ultralytics is imported, which would otherwise set it to 1) with ``time`` = trainlab's wall
time, ``imgsz`` = the scene size, batch 32, horizontal flips off (a mirrored digit is another symbol;
trainlab does not flip digits either) and otherwise ultralytics' default recipe (SGD/AdamW auto, mosaic,
HSV, scale and translate augmentation, EMA). Both detectors are scored on the same test scenes by the
same code: trainlab's :class:`~trainlab.detection.metrics.DetectionMetrics` (torchmetrics'
MeanAveragePrecision, COCO mAP) on detections with score >= 0.001, NMS IoU 0.6, at most 100 per image;
ultralytics' own ``val`` numbers are shown beside.

Running ultralytics offline (see docs/detection.md): ``YOLO_OFFLINE=true``, settings ``sync`` off,
``YOLO_AUTOINSTALL=false``, and a font named Arial.ttf in ``YOLO_CONFIG_DIR`` (``check_det_dataset`` asks
for it even with ``plots=False`` and would try to download it; matplotlib's DejaVuSans stands in).

Run alone on the machine (2 CPU cores here):
    flock /tmp/trainlab-heavy.lock python benchmarks/detection.py --json detection_bench.json
    python benchmarks/detection.py --report detection_bench.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "experiments" / "digit-scenes-yolo"


def run_trainlab(args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], Any]:
    """Train the example in ``work/trainlab``; returns its results and the Learner."""
    from trainlab.config import load_config
    from trainlab.runs import run_experiment

    folder = work / "trainlab"
    folder.mkdir()
    shutil.copy(EXAMPLE / "params.json", folder / "params.json")
    overrides = [f"train.num_threads={args.threads}", "logging.tensorboard=false", "logging.progress=epoch",
                 f"train.seed={args.seed}", *args.set]
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    cfg = load_config(folder, overrides)
    start = time.perf_counter()
    learner = run_experiment(folder, cfg, existing="restart").learner
    wall = time.perf_counter() - start
    t0 = time.perf_counter()
    test = learner.evaluate("test")
    curve, total = [], 0.0
    for row in learner.history.rows:
        total += row["time"]
        curve.append({"epoch": row["epoch"], "seconds": round(total, 1), "valid_map50": row.get("valid.map50"),
                      "valid_map": row.get("valid.map")})
    return {"name": "trainlab yolo (n)", "params": sum(p.numel() for p in learner.model.parameters()),
            "epochs": learner.loop.epoch, "train_seconds": round(total, 1), "wall_seconds": round(wall, 1),
            "test_map50": test["map50"], "test_map": test["map"], "test_seconds": round(time.perf_counter() - t0, 1),
            "curve": curve}, learner


def run_ultralytics(args: argparse.Namespace, work: Path, data_yaml: Path, seconds: float, size: int) -> dict[str, Any]:
    """Train YOLOv8n from its yaml in a child process with the same thread count; its results."""
    out = work / "ultralytics.json"
    config_dir = work / "ultralytics-config"
    config_dir.mkdir()
    import matplotlib

    import trainlab

    font = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    shutil.copy(font, config_dir / "Arial.ttf")  # check_font("Arial.ttf") finds it here instead of downloading
    env = {**os.environ, "YOLO_OFFLINE": "true", "YOLO_CONFIG_DIR": str(config_dir), "YOLO_AUTOINSTALL": "false",
           "ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS": "1", "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join([str(Path(trainlab.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, __file__, "--child", str(data_yaml), str(seconds), str(size), str(out), str(args.threads),
           str(args.seed)]
    child = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    (work / "ultralytics.log").write_text(child.stdout + child.stderr)
    if child.returncode != 0 or not out.is_file():
        tail = "\n".join((child.stdout + child.stderr).strip().splitlines()[-15:])
        return {"name": "ultralytics YOLOv8n", "error": f"exit {child.returncode}:\n{tail}"}
    return json.loads(out.read_text())


def ultralytics_child(data_yaml: str, seconds: float, size: int, out: str, threads: int, seed: int) -> None:
    """In the child: train, validate with ultralytics, and score the test predictions with trainlab's metric."""
    import torch

    torch.set_num_threads(threads)
    from types import SimpleNamespace

    from ultralytics import YOLO, settings

    from trainlab.detection.metrics import DetectionMetrics
    from trainlab.detection.yolo_format import read_data_yaml, read_labels

    settings.update({"sync": False})
    model = YOLO("yolov8n.yaml")
    params = sum(p.numel() for p in model.model.parameters())
    start = time.perf_counter()
    model.train(data=data_yaml, epochs=1000, time=seconds / 3600, imgsz=size, batch=32, device="cpu", workers=0,
                pretrained=False, amp=False, plots=False, fliplr=0.0, seed=seed, deterministic=False,
                project=str(Path(out).parent / "ultralytics-runs"), name="train", exist_ok=True, verbose=False, val=True)
    wall = time.perf_counter() - start
    trainer = model.trainer
    best = YOLO(str(trainer.best)) if Path(trainer.best).is_file() else model
    val = best.val(data=data_yaml, split="test", imgsz=size, batch=100, conf=0.001, iou=0.6, plots=False, verbose=False,
                   device="cpu", project=str(Path(out).parent / "ultralytics-runs"), name="val", exist_ok=True)
    files, names = read_data_yaml(Path(data_yaml))
    metric = DetectionMetrics(num_classes=len(names))
    t0 = time.perf_counter()
    for i, path in enumerate(files["test"]):
        r = best.predict(str(path), imgsz=size, conf=0.001, iou=0.6, max_det=100, device="cpu", verbose=False)[0]
        boxes, labels = read_labels(Path(str(path).replace("/images/", "/labels/")).with_suffix(".txt"), len(names))
        h, w = r.orig_shape
        boxes = boxes * torch.tensor([w, h, w, h])
        dets = torch.cat([torch.zeros(len(r.boxes), 1), r.boxes.xyxy.float(), r.boxes.conf[:, None].float(),
                          r.boxes.cls[:, None].float()], 1)
        y = SimpleNamespace(boxes=boxes[None], labels=labels[None] if len(labels) else torch.full((1, 1), -1),
                            index=torch.tensor([i]))
        if not len(labels):
            y.boxes = torch.zeros(1, 1, 4)
        metric.update(SimpleNamespace(detections=dets, parts={}), y, torch.zeros(1))
    scored = metric.compute()
    result = {"name": "ultralytics YOLOv8n", "params": params, "epochs": int(trainer.epoch) + 1,
              "train_seconds": round(wall, 1), "wall_seconds": round(wall, 1), "test_map50": scored["map50"],
              "test_map": scored["map"], "test_seconds": round(time.perf_counter() - t0, 1),
              "own_val_map50": float(val.box.map50), "own_val_map": float(val.box.map)}
    Path(out).write_text(json.dumps(result, indent=1))


def report(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}; date {results['date']}; {results['threads']} threads; command: "
             f"`{results['command']}`", "",
             "| detector | params | epochs | train wall s | test mAP@0.5 | test mAP@0.5:0.95 | own val mAP@0.5 / 0.5:0.95 |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in results["runs"]:
        if "error" in r:
            lines.append(f"| {r['name']} | - | - | - | - | - | did not run: {r['error'].splitlines()[0]} |")
            continue
        own = f"{r['own_val_map50']:.3f} / {r['own_val_map']:.3f}" if "own_val_map50" in r else "(same metric)"
        lines.append(f"| {r['name']} | {r['params']:,} | {r['epochs']} | {r['train_seconds']:.0f} | {r['test_map50']:.3f} | "
                     f"{r['test_map']:.3f} | {own} |")
    lines += ["", "trainlab valid mAP against training time (cumulative wall seconds, validation included):", "",
              "| epoch | seconds | valid mAP@0.5 | valid mAP@0.5:0.95 |", "|---:|---:|---:|---:|"]
    for c in results["runs"][0]["curve"]:
        lines.append(f"| {c['epoch']} | {c['seconds']:.0f} | {c['valid_map50']:.3f} | {c['valid_map']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        d, s, size, out, threads, seed = sys.argv[2:8]
        ultralytics_child(d, float(s), int(size), out, int(threads), int(seed))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, help="trainlab epochs (default: the example's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="another override for the example, e.g. data.args.scenes=[400,100,100]")
    p.add_argument("--no-ultralytics", action="store_true")
    p.add_argument("--json", type=Path, help="save the results here")
    p.add_argument("--report", type=Path, help="print the table of saved results and exit")
    args = p.parse_args()
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return
    import torch

    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                                          f"torch {torch.__version__}", "date": time.strftime("%Y-%m-%d"),
                               "threads": args.threads, "command": " ".join(["python", *sys.argv]), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours, learner = run_trainlab(args, work)
        results["runs"].append(ours)
        print(json.dumps({k: v for k, v in ours.items() if k != "curve"}), flush=True)
        if args.no_ultralytics:
            pass
        elif importlib.util.find_spec("ultralytics") is None:  # not imported here: it changes OMP_NUM_THREADS
            results["runs"].append({"name": "ultralytics YOLOv8n", "error": "ultralytics is not installed "
                                    "(pip install -e '.[bench]')"})
        else:
            from trainlab.detection.yolo_format import write_yolo_dataset

            d = learner.data
            data_yaml = write_yolo_dataset(work / "yolo", {"train": d.train.split, "valid": d.valid.split,
                                                           "test": d.test.split}, list(d.class_names))
            theirs = run_ultralytics(args, work, data_yaml, ours["train_seconds"], d.input_shape[1])
            results["runs"].append(theirs)
            print(json.dumps(theirs), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()
