"""`trainlab summary` and `trainlab models`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import load_config
from .common import add_set


def register(verbs: argparse._SubParsersAction) -> None:
    s = verbs.add_parser("summary", help="print EXP's model as a layer table")
    s.add_argument("exp", type=Path)
    add_set(s)
    s.set_defaults(func=summary)
    m = verbs.add_parser("models", help="list the registered model names")
    m.set_defaults(func=models)


def summary(args: argparse.Namespace) -> int:
    from ..data import data_from_config
    from ..engine.factory import model_from_config
    from ..models import format_summary
    from ..models import summary as layer_table

    cfg = load_config(args.exp, args.overrides)
    data = data_from_config(cfg.data, seed=cfg.train.seed)
    model = model_from_config(cfg, num_classes=data.num_classes, input_shape=data.input_shape)
    print(format_summary(layer_table(model, (1, *data.input_shape))))
    return 0


def models(args: argparse.Namespace) -> int:
    from ..models import list_models

    names = list_models()
    print("\n".join(names))
    return 0
