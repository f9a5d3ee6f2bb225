"""`trainlab inspect`: a local page to draw, edit and augment an image and watch the feature maps live."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..verbs import add_set, verb


def _arguments(v: argparse.ArgumentParser) -> None:
    v.add_argument("exp", type=Path, help="a trained experiment folder")
    v.add_argument("--checkpoint", default="best", help="best | last | PATH (default best)")
    v.add_argument("--split", default="test", choices=["train", "valid", "test"],
                   help="the images to pick from (default test; valid when the data has no test split)")
    v.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")
    v.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    add_set(v)


@verb("inspect", help="serve a live page: draw or augment an image, watch feature maps and predictions",
      arguments=_arguments,
      description="Serves a local web page (needs: pip install 'trainlab[live]'). Pick a test image or draw one, "
                  "apply noise, blur, rotation, brightness and occlusion, paste a rectangle from another image, and "
                  "watch a layer's feature maps and the top-5 predictions update. See docs/inspect.md.",
      examples=["trainlab inspect experiments/digits-cnn --port 8765   # then open http://127.0.0.1:8765"])
def inspect(args: argparse.Namespace) -> int:
    from ..runs import checkpoint_path
    from .live import inspector_for_checkpoint
    from .server import create_app, serve

    inspector = inspector_for_checkpoint(checkpoint_path(args.exp, args.checkpoint), split=args.split,
                                         overrides=args.overrides)
    app = create_app(inspector, args.exp, title=f"trainlab inspect: {args.exp.name}")
    serve(app, host=args.host, port=args.port,  # says "serving" only once the port is bound
          ready=lambda url: print(f"serving {args.exp} ({args.checkpoint}) at {url}  (Ctrl-C stops)", flush=True))
    return 0

