"""torch.distributed set-up for `torchrun` launches: one process per device, gloo on CPU, nccl on CUDA.

Under ``torchrun --nproc_per_node=N -m trainlab train EXP`` the environment carries RANK, LOCAL_RANK and
WORLD_SIZE; :func:`init_distributed` joins the process group once and says where this process runs.
Multi-node: the same command with torchrun's ``--nnodes`` and ``--rdzv-endpoint`` (docs/distributed.md#distributeddataparallel).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group if launched by torchrun with WORLD_SIZE > 1; otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend)
    return info


def shutdown_distributed(*, wait: bool = True) -> None:
    """Leave the process group, if any, before the interpreter exits.

    A gloo group left to be torn down at exit can abort a rank ("terminate called without an active
    exception", exit -6) after training finished. ``wait`` first holds a barrier so no rank leaves while
    another still talks to it; pass False on an error path, where a peer may already be gone.
    """
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def current() -> DistInfo:
    """The process's place in an initialized group (a single process when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), dist.get_world_size())
    return DistInfo()


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics) so all ranks evaluate the same model."""
    for buf in module.buffers():
        dist.broadcast(buf, 0)
