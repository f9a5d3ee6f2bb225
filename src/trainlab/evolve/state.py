"""The population's state and lineage, saved as ``population.json`` in the parent folder after every change.

Killing ``trainlab evolve`` and running it again resumes from this file: the round and phase say
where the run was, each member says which round it last finished training.

Example:
    >>> pop = Population(config={"population": 4})
    >>> pop.add(Member(id="m000", dir="members/m000", parent=None, kind="clone", mutation="base", born_round=0))
    >>> pop.next_id(), [m.id for m in pop.alive()]
    ('m001', ['m000'])
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..files import atomic_write_text

STATE_FILE = "population.json"


@dataclass
class Member:
    """One individual: an experiment folder and its lineage."""

    id: str
    dir: str  # relative to the parent folder
    parent: str | None
    kind: str  # clone | widen | deepen | lr
    mutation: str  # in words, e.g. "widen block2.0 ×1.5"
    born_round: int
    alive: bool = True
    died_round: int | None = None
    params: int = 0
    flops_per_sample: float | None = None  # forward + backward, per training sample
    inherited_flops: float = 0.0  # training FLOPs of the ancestors up to this member's birth
    train_flops: float = 0.0  # this member's own training FLOPs so far
    step: int = 0  # optimizer steps this member took
    trained_round: int = 0  # the last round whose training finished
    lr_scale: float = 1.0  # lr relative to the parent's
    birth_delta: float = 0.0  # max |Δ logits| at birth on a validation batch
    valid_accuracy: float | None = None
    valid_loss: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per round trained

    @property
    def lineage_flops(self) -> float:
        """Training FLOPs spent on this member's weights, ancestors included."""
        return self.inherited_flops + self.train_flops


@dataclass
class Population:
    """Everything ``trainlab evolve`` needs to continue: round, phase, members, per-round summaries."""

    config: dict[str, Any]  # the evolve section the run started with
    round: int = 0  # the current round (1..R); 0 before the first
    phase: str = "init"  # init | select | mutate | train | final | done
    base_flops: float = 0.0  # training FLOPs of the base model
    members: dict[str, Member] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""  # why evolution ended early (FLOPs budget), if it did
    results: dict[str, Any] | None = None

    def add(self, member: Member) -> None:
        assert member.id not in self.members, member.id
        self.members[member.id] = member

    def next_id(self) -> str:
        return f"m{len(self.members):03d}"

    def alive(self) -> list[Member]:
        return [m for m in self.members.values() if m.alive]

    def born_in(self, round_: int) -> list[Member]:
        return [m for m in self.members.values() if m.born_round == round_]

    def total_train_flops(self) -> float:
        """Base plus every member's own training FLOPs (the whole run's training cost)."""
        return self.base_flops + sum(m.train_flops for m in self.members.values())

    def save(self, folder: Path) -> None:
        data = asdict(self)
        atomic_write_text(Path(folder) / STATE_FILE, json.dumps(data, indent=1))

    @classmethod
    def load(cls, folder: Path) -> Population:
        path = Path(folder) / STATE_FILE
        try:
            data = json.loads(path.read_text())
            members = {k: Member(**v) for k, v in data.pop("members").items()}
            return cls(members=members, **data)
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise CheckpointError(f"{path} cannot be read ({type(e).__name__}: {e}); move it away to start "
                                  "the evolution over.") from None
