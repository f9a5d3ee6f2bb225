"""What trainlab.evolve adds: the ``evolve`` params section (``trainlab evolve`` reads it)."""
from __future__ import annotations

from ..config import register_section
from .config import EvolveConfig

register_section("evolve", EvolveConfig)
