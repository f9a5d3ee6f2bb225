"""The detection race: trainlab's ``yolo`` (n) against ultralytics' YOLOv8n on the same digit scenes, each
trained until its validation mAP stops improving, with test mAP@0.5:0.95 against wall time.

Protocol (one command does it all, and a rerun resumes it):

* Data: the example ``experiments/digit-scenes-yolo`` (4,000 / 500 / 1,000 scenes of 96×96, ``--set``
  overrides it), generated once and exported as a YOLO folder for ultralytics: the same train, valid and
  test images for both, the same image size (96), batch 32, ``--threads`` CPU threads each (trainlab with
  ``train.num_threads`` and adaptive threads off; ultralytics in a child process with ``OMP_NUM_THREADS`` set
  before it is imported, since ``import ultralytics`` sets it to 1 otherwise).
* Stopping: each side trains until its validation mAP has not improved for ``--patience`` epochs (trainlab:
  ``train.early_stopping`` on ``valid.map``; ultralytics: its ``patience``, on its fitness 0.1·mAP50 +
  0.9·mAP50-95), at most ``--max-epochs`` epochs (each side's learning-rate schedule spans them: trainlab's
  one-cycle, ultralytics' linear decay) and at most ``--time-cap`` minutes of training (checked after each
  epoch).
* Recipes: trainlab the example's (AdamW 3e-3, one-cycle, light box augmentation, no flips); ultralytics its
  defaults for ``yolov8n.yaml`` from scratch (optimizer "auto", mosaic, HSV, scale/translate, EMA,
  ``close_mosaic`` 10) with horizontal flips off (a mirrored digit is another symbol).
* The curve: after every epoch the current model (ultralytics: its EMA weights, which its validation and
  checkpoints use) detects the test scenes and trainlab's :class:`~trainlab.detection.metrics.DetectionMetrics`
  (torchmetrics' COCO mAP) scores both sides (score >= 0.001, NMS IoU 0.6, at most 100 per image). The time
  axis is training wall time, validation included, this test scoring excluded.
* The table: best test mAP on the curve; test mAP of the checkpoint each side's validation picks (best.pt);
  the time to reach 95 % of the best; epochs and why the side stopped; parameters; forward FLOPs per
  96×96 image (trainlab's counter for both); CPU inference ms per image at batch 1 (model + decoding + NMS,
  median of ``--infer-runs``, ``--threads`` threads; ultralytics with Conv+BN fused, as its predictor runs).
* The plot: ``--plot`` (default docs/detection_race.png).

Resuming: everything lives in ``--work`` (default ``detection-race/``). A side whose ``result.json`` exists is
not run again; an interrupted trainlab side resumes from its ``last.pt``, an interrupted ultralytics side
from its ``last.pt`` (``resume=True``); the curve files keep the points already measured.

Running ultralytics offline (see docs/detection.md): ``YOLO_OFFLINE=true``, settings ``sync`` off (and its
logging integrations: MLflow, ClearML, Comet, DVC, Ray Tune, TensorBoard, W&B), ``YOLO_AUTOINSTALL=false``, and
a font named Arial.ttf in ``YOLO_CONFIG_DIR`` (``check_det_dataset`` asks for it even with ``plots=False`` and
would try to download it; matplotlib's DejaVuSans stands in).

Full run, alone on the machine (2 CPU cores: about 1.5-2 hours; trainlab at most ~20 min, ultralytics up to
the 90-minute cap; see docs/detection.md):
    flock /tmp/trainlab-heavy.lock python benchmarks/detection.py --work detection-race
    python benchmarks/detection.py --report detection-race/results.json   # the table and the plot again
Smoke run (a minute or two):
    python benchmarks/detection.py --work /tmp/race --max-epochs 2 --time-cap 1 --infer-runs 3 \\
        --set 'data.args.scenes=[64,16,16]' --plot /tmp/race/race.png
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "experiments" / "digit-scenes-yolo"
SIDES = ("trainlab", "ultralytics")
NAMES = {"trainlab": "trainlab yolo (n)", "ultralytics": "ultralytics YOLOv8n"}


# --------------------------------------------------------------------------- shared

def read_curve(path: Path) -> list[dict[str, Any]]:
    """The curve points measured so far (one JSON object per line; a torn last line is dropped)."""
    if not path.is_file():
        return []
    points = []
    for line in path.read_text().splitlines():
        try:
            points.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return points


def append_point(path: Path, point: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(point) + "\n")
        f.flush()
        os.fsync(f.fileno())


def summarize(name: str, curve: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    """A side's table row from its curve: best test mAP and the training time to reach 95 % of it."""
    best = max((p["test_map"] for p in curve), default=-1.0)
    reach = next((p["seconds"] for p in curve if p["test_map"] >= 0.95 * best), None) if best > 0 else None
    return {"name": name, "epochs": curve[-1]["epoch"] if curve else 0,
            "train_seconds": curve[-1]["seconds"] if curve else 0.0, "best_test_map": best,
            "best_test_map50": max((p["test_map50"] for p in curve), default=-1.0),
            "seconds_to_95": reach, "curve": curve, **extra}


def median_ms(fn, x, runs: int) -> float:
    """Median wall milliseconds of ``fn(x)`` over ``runs`` calls after 3 warm-up calls."""
    import torch

    times = []
    with torch.no_grad():
        for i in range(runs + 3):
            start = time.perf_counter()
            fn(x)
            if i >= 3:
                times.append(1000 * (time.perf_counter() - start))
    return sorted(times)[len(times) // 2]


def forward_flops(model, x) -> int:
    from trainlab.profile import count

    return int(count(model, x, backward=False, device="cpu").forward_flops)


# --------------------------------------------------------------------------- trainlab

def trainlab_config(args: argparse.Namespace, folder: Path):
    from trainlab.config import load_config

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "params.json").is_file():
        shutil.copy(EXAMPLE / "params.json", folder / "params.json")
    overrides = [f"train.num_threads={args.threads}", "train.adaptive_threads=false", f"train.seed={args.seed}",
                 f"train.epochs={args.max_epochs}", "train.monitor=valid.map", "train.mode=max",
                 f"train.early_stopping={{\"monitor\": \"valid.map\", \"mode\": \"max\", \"patience\": {args.patience}}}",
                 "logging.tensorboard=false", "logging.plot=false", "logging.progress=epoch", *args.set]
    return load_config(folder, overrides)


def run_trainlab(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Train (or resume) trainlab's side in ``work/trainlab``; its result."""
    import torch

    from trainlab.engine import Callback
    from trainlab.runs import run_experiment

    folder = work / "trainlab"
    cfg = trainlab_config(args, folder)
    curve_path = folder / "curve.jsonl"
    resumed = (folder / "checkpoints" / "last.pt").is_file()
    if resumed:  # points past the checkpoint were measured by epochs the resumed run does again
        done = torch.load(folder / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")["loop"]["epoch"]
        kept = [p for p in read_curve(curve_path) if p["epoch"] <= done]
    else:
        kept = []
    curve_path.write_text("".join(json.dumps(p) + "\n" for p in kept))
    cap = 60 * args.time_cap

    class RaceCurve(Callback):
        """After each epoch: training seconds so far (this scoring excluded), valid and test mAP; the time cap."""

        def on_fit_start(self, learner) -> None:
            self.start, self.offset, self.excluded = time.perf_counter(), (kept[-1]["seconds"] if kept else 0.0), 0.0

        def on_epoch_recorded(self, learner) -> None:
            seconds = self.offset + time.perf_counter() - self.start - self.excluded
            t0 = time.perf_counter()
            test = learner.evaluate("test")
            self.excluded += time.perf_counter() - t0
            append_point(curve_path, {"epoch": learner.loop.epoch, "seconds": round(seconds, 2),
                                      "valid_map": learner.logs.get("valid.map"), "test_map": test["map"],
                                      "test_map50": test["map50"]})
            if seconds > cap:
                learner.should_stop = True
                learner.stop_reason = f"time cap ({args.time_cap} min)"

    learner = run_experiment(folder, cfg, existing="resume" if resumed else "restart", callbacks=[RaceCurve()]).learner
    curve = read_curve(curve_path)
    stopped = ("time cap" if curve and curve[-1]["seconds"] > cap else
               "max epochs" if learner.loop.epoch >= args.max_epochs else f"patience {args.patience}")
    from trainlab.runs import learner_for_checkpoint

    best, _ = learner_for_checkpoint(folder / "checkpoints" / "best.pt")
    final = best.evaluate("test")
    model = best.model.eval()
    x = torch.zeros(1, *best.data.input_shape)
    task = best.task
    infer = median_ms(lambda v: task.forward(model, v), x, args.infer_runs)
    return summarize(NAMES["trainlab"], curve, {
        "params": sum(p.numel() for p in model.parameters()), "forward_flops": forward_flops(model, x),
        "infer_ms": round(infer, 2), "final_test_map": final["map"], "final_test_map50": final["map50"],
        "stopped": stopped})


# --------------------------------------------------------------------------- ultralytics (in a child process)

def run_ultralytics(args: argparse.Namespace, work: Path, data_yaml: Path, size: int) -> dict[str, Any]:
    """Train YOLOv8n in a child process with the same thread count; its result (or an error)."""
    import matplotlib

    import trainlab

    folder = work / "ultralytics"
    config_dir = folder / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    font = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    shutil.copy(font, config_dir / "Arial.ttf")  # check_font("Arial.ttf") finds it here instead of downloading
    env = {**os.environ, "YOLO_OFFLINE": "true", "YOLO_CONFIG_DIR": str(config_dir), "YOLO_AUTOINSTALL": "false",
           "ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS": "1", "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join([str(Path(trainlab.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    job = {"data": str(data_yaml), "size": size, "folder": str(folder), "threads": args.threads, "seed": args.seed,
           "max_epochs": args.max_epochs, "patience": args.patience, "cap": 60 * args.time_cap,
           "infer_runs": args.infer_runs}
    (folder / "job.json").write_text(json.dumps(job))
    with (folder / "ultralytics.log").open("a") as log:
        child = subprocess.run([sys.executable, __file__, "--child", str(folder / "job.json")], env=env, cwd=folder,
                               stdout=log, stderr=subprocess.STDOUT)
    result = folder / "result.json"
    if child.returncode != 0 or not result.is_file():
        tail = "\n".join((folder / "ultralytics.log").read_text().strip().splitlines()[-15:])
        return {"name": NAMES["ultralytics"], "error": f"exit {child.returncode}:\n{tail}"}
    return json.loads(result.read_text())


def _test_images(data_yaml: Path):
    """The test split as ultralytics' predictor sees it (RGB / 255) with its true boxes, in file order."""
    import numpy as np
    import torch
    from PIL import Image

    from trainlab.detection.yolo_format import label_path, read_data_yaml, read_labels

    files, names = read_data_yaml(data_yaml)
    images, truth = [], []
    for path in files["test"]:
        with Image.open(path) as img:
            images.append(torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1))
        boxes, labels = read_labels(label_path(path), len(names))
        h, w = images[-1].shape[1:]
        truth.append((boxes * torch.tensor([w, h, w, h]), labels))
    return torch.stack(images).float() / 255, truth, len(names)


def _score(model, x, truth, num_classes: int, nms) -> dict[str, Any]:
    """trainlab's COCO mAP of an ultralytics model's detections on ``x`` (N, 3, H, W)."""
    from types import SimpleNamespace

    import torch

    from trainlab.detection.metrics import DetectionMetrics

    metric = DetectionMetrics(num_classes=num_classes, class_metrics=False)
    with torch.no_grad():
        for start in range(0, len(x), 100):
            preds = nms(model(x[start:start + 100]), conf_thres=0.001, iou_thres=0.6, max_det=100)
            for j, d in enumerate(preds):
                i = start + j
                boxes, labels = truth[i]
                dets = torch.cat([torch.zeros(len(d), 1), d[:, :4].float(), d[:, 4:6].float()], 1)
                y = SimpleNamespace(boxes=(boxes if len(labels) else torch.zeros(1, 4))[None],
                                    labels=(labels if len(labels) else torch.full((1,), -1))[None],
                                    index=torch.tensor([i]))
                metric.update(SimpleNamespace(detections=dets, parts={}), y, torch.zeros(1))
    return metric.compute()


def ultralytics_child(job_path: str) -> None:
    """In the child: train (or resume) YOLOv8n with the race's callback, then measure the best checkpoint."""
    import torch

    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(job["threads"])
    from ultralytics import YOLO, settings

    try:
        from ultralytics.utils.nms import non_max_suppression as nms
    except ImportError:  # ultralytics 8.3
        from ultralytics.utils.ops import non_max_suppression as nms

    # no telemetry, and none of the logging integrations it turns on when their package is installed (mlflow is,
    # here: it wrote an mlruns/ store beside the run)
    settings.update({"sync": False, "mlflow": False, "clearml": False, "comet": False, "dvc": False,
                     "raytune": False, "tensorboard": False, "wandb": False})
    folder = Path(job["folder"])
    curve_path = folder / "curve.jsonl"
    x, truth, num_classes = _test_images(Path(job["data"]))
    last = folder / "runs" / "train" / "weights" / "last.pt"
    kept = read_curve(curve_path)
    state = {"offset": kept[-1]["seconds"] if kept else 0.0, "excluded": 0.0, "start": None}

    def on_train_start(trainer) -> None:
        state["start"] = time.perf_counter()

    def on_fit_epoch_end(trainer) -> None:
        if any(f.function == "final_eval" for f in inspect.stack()[:4]):
            return  # ultralytics calls this hook once more after training, for best.pt's final validation
        seconds = state["offset"] + time.perf_counter() - state["start"] - state["excluded"]
        t0 = time.perf_counter()
        scored = _score(trainer.ema.ema, x, truth, num_classes, nms)
        state["excluded"] += time.perf_counter() - t0
        epoch = trainer.epoch + 1
        append_point(curve_path, {"epoch": epoch, "seconds": round(seconds, 2),
                                  "valid_map": float(trainer.metrics.get("metrics/mAP50-95(B)", -1)),
                                  "test_map": scored["map"], "test_map50": scored["map50"]})
        if seconds > job["cap"]:
            trainer.stop = True

    if last.is_file():  # an interrupted run: ultralytics resumes from its last.pt with its own arguments
        done = torch.load(last, weights_only=False, map_location="cpu").get("epoch", -1) + 1
        curve_path.write_text("".join(json.dumps(p) + "\n" for p in kept if p["epoch"] <= done))
        state["offset"] = max([0.0] + [p["seconds"] for p in read_curve(curve_path)])
        model = YOLO(str(last))
        model.add_callback("on_train_start", on_train_start)
        model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
        model.train(resume=True)
    else:
        curve_path.write_text("")
        model = YOLO("yolov8n.yaml")
        model.add_callback("on_train_start", on_train_start)
        model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
        model.train(data=job["data"], epochs=job["max_epochs"], patience=job["patience"], imgsz=job["size"], batch=32,
                    device="cpu", workers=0, pretrained=False, amp=False, plots=False, fliplr=0.0, seed=job["seed"],
                    deterministic=False, project=str(folder / "runs"), name="train", exist_ok=True, verbose=False,
                    val=True)
    trainer = model.trainer
    curve = read_curve(curve_path)
    stopped = ("time cap" if curve and curve[-1]["seconds"] > job["cap"] else
               "max epochs" if curve and curve[-1]["epoch"] >= job["max_epochs"] else f"patience {job['patience']}")
    best_path = Path(trainer.best) if Path(trainer.best).is_file() else last
    best = YOLO(str(best_path))
    val = best.val(data=job["data"], split="test", imgsz=job["size"], batch=100, conf=0.001, iou=0.6, plots=False,
                   verbose=False, device="cpu", project=str(folder / "runs"), name="val", exist_ok=True)
    net = best.model.float().eval()
    final = _score(net, x, truth, num_classes, nms)
    one = x[:1]
    flops = forward_flops(net, one)
    params = sum(p.numel() for p in net.parameters())
    fused = net.fuse() if hasattr(net, "fuse") else net  # as ultralytics' predictor runs it
    infer = median_ms(lambda v: nms(fused(v), conf_thres=0.001, iou_thres=0.6, max_det=100), one, job["infer_runs"])
    result = summarize(NAMES["ultralytics"], curve, {
        "params": params, "forward_flops": flops, "infer_ms": round(infer, 2), "final_test_map": final["map"],
        "final_test_map50": final["map50"], "stopped": stopped, "own_test_map50": float(val.box.map50),
        "own_test_map": float(val.box.map)})
    (folder / "result.json").write_text(json.dumps(result, indent=1))


# --------------------------------------------------------------------------- report and plot

def report(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}; date {results['date']}; {results['threads']} threads; command: "
             f"`{results['command']}`", "",
             "| detector | params | forward GFLOPs / image | CPU ms / image (batch 1) | epochs (stopped by) | "
             "train min | best test mAP@0.5:0.95 | min to 95 % of it | test mAP@0.5:0.95 / @0.5 of best.pt |",
             "|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for r in results["runs"]:
        if "error" in r:
            lines.append(f"| {r['name']} | did not run: {r['error'].splitlines()[0]} |||||||")
            continue
        reach = f"{r['seconds_to_95'] / 60:.1f}" if r.get("seconds_to_95") is not None else "-"
        lines.append(f"| {r['name']} | {r['params']:,} | {r['forward_flops'] / 1e9:.3f} | {r['infer_ms']:.1f} | "
                     f"{r['epochs']} ({r['stopped']}) | {r['train_seconds'] / 60:.1f} | {r['best_test_map']:.3f} | "
                     f"{reach} | {r['final_test_map']:.3f} / {r['final_test_map50']:.3f} |")
    own = [r for r in results["runs"] if "own_test_map" in r]
    for r in own:
        lines += ["", f"{r['name']}: ultralytics' own `val` on the test split of best.pt: mAP@0.5 "
                      f"{r['own_test_map50']:.3f}, mAP@0.5:0.95 {r['own_test_map']:.3f}."]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> Path:
    """Test mAP@0.5:0.95 against training minutes, one line per side, the 95 % point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for r, colour in zip(results["runs"], ("tab:blue", "tab:orange")):
        if "error" in r or not r["curve"]:
            continue
        minutes = [p["seconds"] / 60 for p in r["curve"]]
        ax.plot(minutes, [p["test_map"] for p in r["curve"]], "-o", ms=2.5, color=colour,
                label=f"{r['name']} (best {r['best_test_map']:.3f})")
        if r.get("seconds_to_95") is not None:
            ax.axvline(r["seconds_to_95"] / 60, color=colour, ls=":", lw=1)
    ax.set_xlabel("training wall time, minutes (validation included, test scoring excluded)")
    ax.set_ylabel("test mAP@0.5:0.95")
    size = results.get("image_size", 96)
    stop = f"until {results['patience']} epochs without a better validation mAP"
    caps = [f"{results[k]:g} {unit}" for k, unit in (("max_epochs", "epochs"), ("time_cap_minutes", "min"))
            if results.get(k) is not None]
    ax.set_title(f"digit scenes {size}×{size}, {results['threads']} CPU threads: {stop}"
                 + (f"\nat most {' / '.join(caps)} per side" if caps else ""), fontsize=9)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- main

def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        ultralytics_child(sys.argv[2])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("detection-race"), help="folder of the race (resumable)")
    p.add_argument("--max-epochs", type=int, default=60, help="epochs at most per side (the schedules span them)")
    p.add_argument("--patience", type=int, default=10, help="epochs without a better validation mAP before stopping")
    p.add_argument("--time-cap", type=float, default=90.0, help="minutes of training at most per side")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--infer-runs", type=int, default=50, help="batch-1 inference runs per model (median)")
    p.add_argument("--sides", default="trainlab,ultralytics", help="which detectors to train")
    p.add_argument("--set", action="append", default=[], help="another override for the trainlab example, e.g. "
                                                              "data.args.scenes=[400,100,100] (both sides get the data)")
    p.add_argument("--plot", type=Path, default=REPO / "docs" / "detection_race.png")
    p.add_argument("--fresh", action="store_true", help="delete --work first")
    p.add_argument("--report", type=Path, help="print the table of saved results, redraw --plot and exit")
    args = p.parse_args()
    if args.report:
        results = json.loads(args.report.read_text())
        print(report(results))
        print(f"plot: {plot(results, args.plot)}")
        return
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if set(sides) - set(SIDES):
        p.error(f"--sides takes {', '.join(SIDES)}")
    if args.fresh and args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                                          f"torch {torch.__version__}", "date": time.strftime("%Y-%m-%d"),
                               "threads": args.threads, "patience": args.patience, "max_epochs": args.max_epochs,
                               "time_cap_minutes": args.time_cap, "command": " ".join(["python", *sys.argv]),
                               "runs": []}
    size = json.loads(EXAMPLE.joinpath("params.json").read_text())["data"]["args"].get("size", 96)
    for override in args.set:  # data.args.size=... changes the image size of both
        if override.startswith("data.args.size="):
            size = int(override.split("=", 1)[1])
    results["image_size"] = size
    for side in sides:
        done = args.work / side / "result.json"
        if done.is_file():
            print(f"{side}: already measured ({done}); delete it (or use --fresh) to run it again", flush=True)
            results["runs"].append(json.loads(done.read_text()))
            continue
        if side == "trainlab":
            result = run_trainlab(args, args.work)
            done.write_text(json.dumps(result, indent=1))
        elif importlib.util.find_spec("ultralytics") is None:  # not imported here: it changes OMP_NUM_THREADS
            result = {"name": NAMES[side], "error": "ultralytics is not installed (pip install -e '.[bench]')"}
        else:
            data_yaml = args.work / "yolo" / "data.yaml"
            if not data_yaml.is_file():  # the same scenes trainlab trains on, generated from the same params
                from trainlab.detection.yolo_format import write_yolo_dataset
                from trainlab.engine.factory import data_and_task

                data, _ = data_and_task(trainlab_config(args, args.work / "trainlab"), device=torch.device("cpu"))
                write_yolo_dataset(args.work / "yolo", {"train": data.train.split, "valid": data.valid.split,
                                                        "test": data.test.split}, list(data.class_names))
            result = run_ultralytics(args, args.work, data_yaml, size)
        results["runs"].append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    print(report(results))
    print(f"plot: {plot(results, args.plot)}; results: {args.work / 'results.json'}")


if __name__ == "__main__":
    main()
