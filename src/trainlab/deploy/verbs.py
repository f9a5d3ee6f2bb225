"""`trainlab predict` and `trainlab export`. Importing this module imports no torch: predicting with a bundle
runs where torch is not installed."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..verbs import add_set, verb


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", type=Path, metavar="EXP|BUNDLE", help="experiment folder, or a folder from trainlab export")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="image files, folders (recursive), globs, @list.txt (one path a line), - (paths on stdin)")
    p.add_argument("--checkpoint", default="best", help="best | last | PATH (EXP only; default: best)")
    p.add_argument("--out", type=Path, help="output file (csv, .jsonl, .json for coco) or folder (yolo-txt); "
                                            "default: standard output")
    p.add_argument("--format", dest="fmt", choices=["csv", "jsonl", "yolo-txt", "coco"],
                   help="default: from --out's suffix, else csv; yolo-txt and coco for detectors")
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="classes per image for classifiers (default 5)")
    p.add_argument("--min-score", type=float, default=0.25, metavar="S",
                   help="detections scoring below are not written (default 0.25)")
    p.add_argument("--save-vis", type=Path, metavar="DIR", help="also write each image with its answer drawn on it")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per forward pass (default 32)")
    p.add_argument("--threads", type=int, metavar="N", help="onnxruntime threads for a bundle (default: all cores)")
    add_set(p)


def _export_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("exp", type=Path, metavar="EXP")
    e.add_argument("--checkpoint", default="best", help="best | last | PATH (default: best)")
    e.add_argument("--out", type=Path, metavar="DIR", help="bundle folder (default: EXP/export)")
    e.add_argument("--format", dest="fmt", default="onnx", choices=["onnx"], help="bundle format (default: onnx)")
    e.add_argument("--force", action="store_true", help="replace an existing bundle folder")
    e.add_argument("--exporter", default="auto", choices=["auto", "dynamo", "legacy"],
                   help="torch.onnx exporter: auto = dynamo (torch.export), the legacy TorchScript one for "
                        "recurrent models or where dynamo fails (default: auto)")
    e.add_argument("--verify-samples", type=int, default=256, metavar="N",
                   help="validation samples the parity check runs (default 256; 0: all of them)")
    e.add_argument("--no-verify", action="store_true", help="skip the parity check (parity.json says so)")
    add_set(e)


@verb("predict", help="predict image files with a trained run or an exported bundle", arguments=_predict_arguments,
      description="Answer image files with EXP's checkpoint (PyTorch) or an exported BUNDLE (onnxruntime, no torch "
                  "needed), using the run's evaluation preprocessing. Rows stream in input order; unreadable files "
                  "are reported and skipped.",
      examples=["trainlab predict experiments/digits-cnn photos/ --out preds.csv",
                "trainlab predict experiments/digits-cnn/export '*.png' --format jsonl --top-k 3",
                "trainlab predict experiments/digit-scenes-yolo scenes/ --format yolo-txt --out labels/"])
def predict(args: argparse.Namespace) -> int:
    from ..deploy import predict as run_predict

    summary = run_predict(args.target, args.sources, out=args.out if args.out is not None else sys.stdout,
                          fmt=args.fmt, checkpoint=args.checkpoint, top_k=args.top_k, min_score=args.min_score,
                          batch_size=args.batch_size, save_vis=args.save_vis, overrides=args.overrides,
                          threads=args.threads, progress=sys.stderr.isatty())
    skipped = f", {summary.skipped} skipped (unreadable)" if summary.skipped else ""
    where = f"; wrote {summary.out}" if summary.out is not None else ""
    print(f"predicted {summary.written} image(s){skipped} in {summary.seconds:.1f} s ({summary.rate:.0f} files/s) "
          f"with {summary.model}{where}", file=sys.stderr)
    return 0


@verb("export", help="export a run to a verified, self-describing ONNX bundle", arguments=_export_arguments,
      description="Write EXP's checkpoint as an ONNX bundle (model.onnx, config.json, preprocess.json, README.md, "
                  "parity.json) and check onnxruntime against PyTorch on the run's validation samples; a failed "
                  "check exits non-zero.",
      examples=["trainlab export experiments/digits-cnn", "trainlab export experiments/digits-cnn --out bundle --force"])
def export(args: argparse.Namespace) -> int:
    from ..deploy import export as run_export

    result = run_export(args.exp, checkpoint=args.checkpoint, out=args.out, force=args.force, exporter=args.exporter,
                        verify_samples=None if args.no_verify else args.verify_samples, overrides=args.overrides)
    for name, how in result.exporters.items():
        print(f"{name}.onnx: {how}")
    print(result.parity_line())
    print(f"wrote {result.folder}")
    return 0
