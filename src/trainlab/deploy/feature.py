"""What trainlab.deploy writes into an experiment folder: ``trainlab export``'s default bundle, ``EXP/export/``
(archived by ``--restart`` with the run it was exported from)."""
from __future__ import annotations

from ..runs import declare_outputs

declare_outputs("export", "export")
