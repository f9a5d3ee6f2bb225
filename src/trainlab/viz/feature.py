"""What trainlab.viz adds to an experiment folder: ``trainlab viz`` writes its pictures into ``EXP/viz/``."""
from __future__ import annotations

from ..runs import declare_outputs

declare_outputs("viz", "viz")
