"""The recipe's params keys: ``train.ema``, ``data.mix`` and ``data.tta`` (see docs/recipes.md)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..config import Section

TTA_VIEWS = ("none", "flip", "flip+shift")
TTA = Literal["none", "flip", "flip+shift"]


class EMAOptions(Section):
    """An exponential moving average of the weights and buffers, validated, saved and evaluated instead of them."""

    decay: float = Field(0.999, ge=0, lt=1, description="the average keeps this share of itself at each optimizer "
                                                        "step (its horizon is about 1 / (1 - decay) steps)")
    warmup_steps: int = Field(10, ge=0, description="the t-th update uses min(decay, (1 + t) / (warmup_steps + t)), "
                                                    "so the average forgets the initial weights early on; 0: decay "
                                                    "from the first step")


class MixOptions(Section):
    """mixup and cutmix: each training batch mixed with a shuffled copy of itself, targets mixed alike."""

    mixup_alpha: float = Field(0.2, ge=0, description="mixup: lambda ~ Beta(alpha, alpha); 0 turns mixup off")
    cutmix_alpha: float = Field(0.0, ge=0, description="cutmix: lambda ~ Beta(alpha, alpha) sets the pasted box's "
                                                       "area (1 - lambda); 0 turns cutmix off")
    prob: float = Field(1.0, ge=0, le=1, description="share of the batches that are mixed")
    switch_prob: float = Field(0.5, ge=0, le=1, description="with both alphas > 0: share of the mixed batches that "
                                                            "use cutmix rather than mixup")

    @model_validator(mode="after")
    def _one_alpha(self) -> MixOptions:
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0:
            raise ValueError("set mixup_alpha or cutmix_alpha above 0 (e.g. data.mix: {mixup_alpha: 0.2}), or "
                             "remove data.mix")
        return self

    def describe(self) -> str:
        """'mixup 0.2 / cutmix 1.0 (switch 0.5), p=1.0'."""
        kinds = [f"{name} {alpha:g}" for name, alpha in (("mixup", self.mixup_alpha), ("cutmix", self.cutmix_alpha))
                 if alpha > 0]
        switch = f" (switch {self.switch_prob:g})" if len(kinds) == 2 else ""
        return f"{' / '.join(kinds)}{switch}, p={self.prob:g}"
