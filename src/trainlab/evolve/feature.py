"""What trainlab.evolve adds: the ``evolve`` params section (``trainlab evolve`` reads it)."""
from __future__ import annotations

from ..config import register_section
from ..runs import declare_outputs
from .config import EvolveConfig

register_section("evolve", EvolveConfig)
declare_outputs("evolve", "evolve_valid_logits.pt")  # a member's validation logits, for selection
