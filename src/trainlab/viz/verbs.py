"""`trainlab viz`: pictures of what EXP's trained model computes, with an index.html (trainlab.viz.experiment)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..verbs import add_set, verb
from .experiment import WHAT


def _position(text: str) -> tuple[int, int]:
    try:
        y, x = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected Y,X such as 3,4") from None
    return y, x


def _arguments(v: argparse.ArgumentParser) -> None:
    v.add_argument("exp", type=Path, help="a trained experiment folder")
    v.add_argument("--what", nargs="+", required=True, choices=[*WHAT, "all"], metavar="WHAT",
                   help=f"one or more of: {', '.join(WHAT)}, all")
    v.add_argument("--layer", help="module name (default: the last convolutional block; filters: the first conv)")
    v.add_argument("--channel", type=int, help="channel of --layer (default 0; progression: the strongest channels)")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--image", type=Path, help="an image file (resized and converted to the model's input)")
    src.add_argument("--index", type=int, nargs="+", metavar="I",
                     help="sample(s) of --split (default: 0; attributions: 0 1 2 3)")
    v.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    v.add_argument("--target", help="class (index or name): attribution target (default: the predicted class); "
                                    "with maximize: synthesize this class instead of a channel")
    v.add_argument("--unit", type=_position, metavar="Y,X",
                   help="receptive-field: position Y,X in --layer's output (default: the centre)")
    v.add_argument("-k", type=int, default=9, help="top-patches: how many (default 9)")
    v.add_argument("--max-images", type=int, help="top-patches: stop after this many images of --split")
    v.add_argument("--steps", type=int, default=256, help="maximize: optimization steps (default 256)")
    v.add_argument("--against", default="init", help="compare-filters: init | best | last | PATH (default init)")
    v.add_argument("--checkpoint", default="best", help="best | last | PATH (default best)")
    v.add_argument("--out", type=Path, help="output folder (default EXP/viz)")
    add_set(v)


@verb("viz", help="pictures of what a trained model computes (feature maps, top patches, saliency, ...)",
      arguments=_arguments,
      description="Writes PNGs and an index.html into --out (default EXP/viz). Layer names are qualified module "
                  "names as `trainlab summary EXP` lists them, e.g. stage2.0.conv1.",
      examples=["trainlab viz experiments/digits-cnn --what top-patches --layer stem --channel 3"])
def viz(args: argparse.Namespace) -> int:
    from .experiment import visualize_experiment

    pictures = visualize_experiment(
        args.exp, args.what, checkpoint=args.checkpoint, layer=args.layer, channel=args.channel, image=args.image,
        indices=args.index, split=args.split, target=args.target, unit=args.unit, k=args.k,
        max_images=args.max_images, steps=args.steps, against=args.against, out=args.out, overrides=args.overrides,
        on_picture=lambda path, caption: print(f"wrote {path}", flush=True))
    print(f"wrote {pictures.index}")
    return 0
