"""A modern training recipe: weight EMA, mixup/cutmix and test-time augmentation (docs/recipes.md).

Turn them on in the params file (``train.ema``, ``data.mix``, ``data.tta``) or pass the callbacks to a
Learner: :class:`ModelEMA` keeps an exponential moving average of the weights that validation, ``best.pt``,
``trainlab evaluate`` and prediction use; :class:`MixBatches` trains on mixup/cutmix blends with soft
targets; :class:`TestTimeAugmentation` averages the class probabilities over mirrored (and shifted) views.

Example:
    >>> from trainlab.config import parse_config
    >>> cfg = parse_config({"train": {"ema": {"decay": 0.99}}, "data": {"mix": {"cutmix_alpha": 1.0}}})
    >>> cfg.train.ema.decay, cfg.data.mix.mixup_alpha, cfg.data.tta
    (0.99, 0.2, 'none')
"""
from .ema import ModelEMA, ema_decay, update_average
from .mix import MixBatches, cut_box, mix_batch
from .tta import TestTimeAugmentation, ViewAverage, views

__all__ = ["MixBatches", "ModelEMA", "TestTimeAugmentation", "ViewAverage", "cut_box", "ema_decay", "mix_batch",
           "update_average", "views"]
