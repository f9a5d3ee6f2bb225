"""Layer diagnostics: is each layer learning, and are its activations healthy?

Every ``every`` epochs, :class:`LayerDiagnostics` records per layer

- the weight norm, the gradient norm of the epoch's last optimizer step (after clipping, as the optimizer
  sees it) and the update/weight ratio ``‖Δw‖ / ‖w‖`` of that step (a common rule of thumb: around 1e-3;
  far below, the layer barely moves; far above, the step is too large);
- the mean and standard deviation of each layer's output on a fixed probe set (eval mode), and for every
  ReLU the fraction of dead units: units (channel × position) that are zero for every probe image.

The numbers go into the epoch's history row (``diagnostics``: ``{layer: {stat: value}}``, plus three
summary scalars ``diag.dead_relu``, ``diag.update_ratio_max`` and ``diag.grad_norm``) and, when TensorBoard is
on, into TensorBoard as scalars (``diagnostics/<layer>/<stat>``) and histograms of every parameter's weights,
gradients and updates (``weights/``, ``gradients/``, ``updates/``).

Example:
    >>> from trainlab.config import parse_config
    >>> from trainlab.engine.factory import learner_from_config
    >>> cfg = parse_config({"data": {"name": "synthetic"}, "model": {"name": "cnn_tiny", "args": {"width": 4}},
    ...                     "logging": {"progress": "none", "tensorboard": False, "plot": False}})
    >>> learner = learner_from_config(cfg, callbacks=[LayerDiagnostics(images=8)]).fit(1)
    >>> sorted(learner.history[-1]["diagnostics"]["stem.0"])
    ['act_mean', 'act_std', 'grad_norm', 'update_ratio', 'weight_norm']
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..engine.callback import Callback
from ..engine.callbacks.reporting import TensorBoard
from ..engine.callbacks.schedule import GradClip
from ..viz.hooks import eval_mode
from .probe_set import probe_batch, probe_indices

RELUS = (nn.ReLU, nn.ReLU6)  # outputs are exactly 0 where the unit is off


def _param_layers(model: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """``{layer: [(qualified parameter name, parameter), ...]}`` for every module that owns trainable parameters."""
    out: dict[str, list[tuple[str, nn.Parameter]]] = {}
    for name, module in model.named_modules():
        params = [(f"{name}.{k}" if name else k, p) for k, p in module.named_parameters(recurse=False)
                  if p.requires_grad]
        if params:
            out[name or type(model).__name__] = params
    return out


def activation_stats(model: nn.Module, inputs: Tensor) -> dict[str, dict[str, float]]:
    """Mean and std of every leaf module's output on ``inputs`` (eval mode, no gradients), and for ReLUs the
    fraction of dead units (zero for every input). A module called several times pools its calls.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = net[0].bias.fill_(-100.0)  # every unit off
        >>> activation_stats(net, torch.randn(5, 4))["1"]["dead_fraction"]
        1.0
    """
    sums: dict[str, Tensor] = {}  # name -> (count, sum, sum of squares, dead units, units), float64

    def hook_for(name: str, relu: bool):
        def hook(module: nn.Module, args: object, output: object) -> None:
            if not isinstance(output, Tensor) or not output.is_floating_point() or output.dim() < 2:
                return
            x = output.detach().double()
            dead = units = x.new_zeros(())
            if relu:  # a unit is one (channel, position) of the per-sample output
                dead = (x > 0).any(dim=0).logical_not().sum().double()
                units = x.new_tensor(float(x[0].numel()))
            row = torch.stack([x.new_tensor(float(x.numel())), x.sum(), (x * x).sum(), dead, units])
            sums[name] = sums[name] + row if name in sums else row
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if n and next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook_for(n, isinstance(m, RELUS))) for n, m in leaves]
    try:
        with eval_mode(model), torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    out: dict[str, dict[str, float]] = {}
    for name, (count, total, squares, dead, units) in ((n, s.tolist()) for n, s in sums.items()):
        mean = total / count
        stats = {"act_mean": mean, "act_std": max(squares / count - mean * mean, 0.0) ** 0.5}
        if units:
            stats["dead_fraction"] = dead / units
        out[name] = stats
    return out


class LayerDiagnostics(Callback):
    """Per-layer weight/gradient/update statistics and activation health, every ``every`` epochs.

    Runs on the main process only (the others train the same weights). The diagnosed step is the epoch's
    last step of its own training pass (not of an extra pass such as focus's). Costs, per diagnosed epoch:
    one copy of the weights at that step, one forward pass of ``images`` probe images,
    and (``histograms``) three TensorBoard histograms per parameter tensor. See the module docstring.
    """

    run_after = (GradClip, TensorBoard)  # see the clipped gradients; TensorBoard's writer exists

    def __init__(self, *, every: int = 1, images: int = 32, split: str = "valid", seed: int = 0,
                 histograms: bool = True) -> None:
        self.every, self.count, self.split, self.seed, self.histograms = every, images, split, seed, histograms
        self._before: dict[str, Tensor] | None = None  # weights before the diagnosed step
        self._in_batch = False  # inside a batch of the epoch's own training pass
        self._grads: dict[str, float] = {}
        self._updates: dict[str, float] = {}
        self._writer = None

    def on_setup(self, learner) -> None:
        self.active = not learner.distributed or torch.distributed.get_rank() == 0
        loader = learner.data.split(self.split)
        self.inputs, _ = probe_batch(loader, probe_indices(loader.num_samples, self.count, self.seed))

    def _due(self, epoch: int) -> bool:
        return self.active and epoch % self.every == 0

    def on_fit_start(self, learner) -> None:
        tb = learner.callbacks.find(TensorBoard)
        self._writer = tb.writer if tb is not None and self.histograms else None

    def on_train_batch_start(self, learner) -> None:
        self._in_batch = True  # a step of the epoch's own pass, not of an extra one (focus: train_pass)

    def on_before_optimizer_step(self, learner) -> None:
        # the epoch's last optimizer step: the epoch's last batch always ends an accumulation group
        if (not self._in_batch or learner.loop.batch != learner.batches_per_epoch
                or not self._due(learner.loop.epoch + 1)):
            return
        step = learner.loop.epoch + 1
        self._before, self._grads = {}, {}
        for layer, params in _param_layers(learner.model).items():
            grads = [p.grad for _, p in params if p.grad is not None]
            if grads:
                self._grads[layer] = float(torch.linalg.vector_norm(torch.stack(
                    [torch.linalg.vector_norm(g.float()) for g in grads])))
            for pname, p in params:
                self._before[pname] = p.detach().clone()
                if self._writer is not None and p.grad is not None:
                    self._writer.add_histogram(f"gradients/{pname}", p.grad.detach().float().cpu(), step)

    def on_train_batch_end(self, learner) -> None:
        self._in_batch = False
        if self._before is None or not learner.did_step:
            return
        step = learner.loop.epoch + 1
        self._updates = {}
        for layer, params in _param_layers(learner.model).items():
            pairs = [(p.detach(), self._before[n]) for n, p in params if n in self._before]
            if not pairs:
                continue
            delta = torch.stack([torch.linalg.vector_norm((w - w0).float()) for w, w0 in pairs]).norm()
            norm = torch.stack([torch.linalg.vector_norm(w0.float()) for _, w0 in pairs]).norm()
            self._updates[layer] = float(delta / norm.clamp_min(1e-12))
            if self._writer is not None:
                for n, p in params:
                    if n in self._before:
                        self._writer.add_histogram(f"updates/{n}", (p.detach() - self._before[n]).float().cpu(), step)
        self._before = None

    def on_epoch_end(self, learner) -> None:
        if not self._due(learner.loop.epoch):
            return
        layers = _param_layers(learner.model)
        rows: dict[str, dict[str, float]] = {}
        for layer, params in layers.items():
            rows[layer] = {"weight_norm": float(torch.stack(
                [torch.linalg.vector_norm(p.detach().float()) for _, p in params]).norm())}
            if layer in self._grads:
                rows[layer]["grad_norm"] = self._grads[layer]
            if layer in self._updates:
                rows[layer]["update_ratio"] = self._updates[layer]
        for layer, stats in activation_stats(learner.model, self.inputs).items():
            rows.setdefault(layer, {}).update(stats)
        dead = [s["dead_fraction"] for s in rows.values() if "dead_fraction" in s]
        learner.logs["diagnostics"] = rows
        if dead:
            learner.logs["diag.dead_relu"] = max(dead)
        if self._updates:
            learner.logs["diag.update_ratio_max"] = max(self._updates.values())
        if self._grads:
            learner.logs["diag.grad_norm"] = float(torch.tensor(list(self._grads.values())).norm())
        self._grads, self._updates = {}, {}

    def state_dict(self) -> dict[str, Any]:
        """The epoch's last step's gradient norms and update ratios, measured and not yet recorded (a run
        stopped right after that step records them when it resumes)."""
        return {"grads": dict(self._grads), "updates": dict(self._updates)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._grads, self._updates = dict(state["grads"]), dict(state["updates"])

    def on_epoch_recorded(self, learner) -> None:
        rows = learner.logs.get("diagnostics")
        tb = learner.callbacks.find(TensorBoard)
        if not rows or tb is None or tb.writer is None:
            return
        epoch = learner.loop.epoch
        for layer, stats in rows.items():
            for stat, value in stats.items():
                tb.writer.add_scalar(f"diagnostics/{layer}/{stat}", value, epoch)
        if self._writer is not None:
            for params in _param_layers(learner.model).values():
                for n, p in params:
                    self._writer.add_histogram(f"weights/{n}", p.detach().float().cpu(), epoch)
        tb.writer.flush()
