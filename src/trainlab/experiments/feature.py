"""What trainlab.experiments adds: the ``search`` params section (``trainlab search`` reads it)."""
from __future__ import annotations

from ..config import register_section
from ..runs import declare_outputs
from .config import SearchConfig

register_section("search", SearchConfig)
declare_outputs("interpret", "interpret.md", "confusion_matrix.png", "top_losses.png")
declare_outputs("lr-find", "lr_find.json", "lr_find.png")
