"""What trainlab.morph adds: ``model.morph``, the transforms a model is rebuilt with (``trainlab morph``
writes them; every later build of that experiment re-applies them before loading its weights)."""
from __future__ import annotations

from ..config import fixed_on_resume, register_field
from ..models import MODEL_TRANSFORMS
from .config import MorphStep

register_field("model", "morph", list[MorphStep], fixed_on_resume(
    default_factory=list, description="function-preserving transforms applied to the built model, in order, "
                                      "before pretrained weights"))


@MODEL_TRANSFORMS.register("morph")
def apply_config_steps(model, cfg, input_shape):
    if not cfg.model.morph:
        return model
    from .steps import apply_morph_steps

    return apply_morph_steps(model, cfg.model.morph, input_shape)
