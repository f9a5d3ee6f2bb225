"""Where a run is: the loop's counters, saved and restored as one unit."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class LoopState:
    """The counters of a training run.

    Example:
        >>> LoopState(epoch=2, batch=3).describe(94)
        'epoch 3, after batch 3 of 94'
    """

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch (0 between epochs)
    step: int = 0  # optimizer steps taken
    samples: int = 0  # training samples this process has stepped over (extra passes included)
    skipped_batches: int = 0  # batches skipped for a non-finite loss (train.skip_nonfinite)

    def describe(self, batches_per_epoch: int | None = None) -> str:
        """Where the run stands, numbered as people count: 'epoch 3, after batch 2 of 94' / 'start of epoch 3'."""
        if not self.batch:
            return f"start of epoch {self.epoch + 1}"
        of = f" of {batches_per_epoch}" if batches_per_epoch else ""
        return f"epoch {self.epoch + 1}, after batch {self.batch}{of}"

    def state_dict(self) -> dict[str, int]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for f in fields(self):
            setattr(self, f.name, int(state.get(f.name, 0)))
