"""What trainlab.experiments adds: the ``search`` params section (``trainlab search`` reads it)."""
from __future__ import annotations

from ..config import register_section
from .config import SearchConfig

register_section("search", SearchConfig)
