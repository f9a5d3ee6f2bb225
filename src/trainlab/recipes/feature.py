"""What trainlab.recipes adds to a run: ``train.ema``, ``data.mix`` and ``data.tta``, and their callbacks."""
from __future__ import annotations

from pydantic import Field

from ..config import register_field
from ..engine.factory import CALLBACKS, EVAL_CALLBACKS
from .config import TTA, EMAOptions, MixOptions

register_field("train", "ema", EMAOptions | None, Field(
    None, description="validate, save as best.pt and evaluate an exponential moving average of the weights "
                      "(docs/recipes.md); off when absent"))
register_field("data", "mix", MixOptions | None, Field(
    None, description="classification: mixup / cutmix of each training batch, soft targets (docs/recipes.md); "
                      "off when absent"))
register_field("data", "tta", TTA, Field(
    "none", description="classification: average the class probabilities over mirrored (flip) and shifted "
                        "(flip+shift) views at validation and evaluation"))


@CALLBACKS.register("recipes")
def recipe_callbacks(cfg, exp_dir) -> list:
    cbs = []
    if cfg.train.ema is not None:
        from .ema import ModelEMA

        cbs.append(ModelEMA(decay=cfg.train.ema.decay, warmup_steps=cfg.train.ema.warmup_steps))
    if cfg.data.mix is not None:
        from .mix import MixBatches

        m = cfg.data.mix
        cbs.append(MixBatches(mixup_alpha=m.mixup_alpha, cutmix_alpha=m.cutmix_alpha, prob=m.prob,
                              switch_prob=m.switch_prob, seed=cfg.train.seed, description=m.describe()))
    return cbs


@EVAL_CALLBACKS.register("tta")
def tta_callbacks(cfg, exp_dir) -> list:
    if cfg.data.tta == "none":
        return []
    from .tta import TestTimeAugmentation

    return [TestTimeAugmentation(cfg.data.tta)]
