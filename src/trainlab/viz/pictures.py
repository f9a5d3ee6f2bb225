"""PNG pictures of what :mod:`trainlab.viz` computes, drawn with matplotlib's object API (no pyplot state).

Readable at a glance: every image is drawn large (about 1.5 inches per cell, so an 8×8 digit is
blown up with nearest-neighbour to ~150 pixels and its pixels stay visible), with a title, and a
colour bar wherever colours encode numbers. Images that the model saw normalized are shown
un-normalized with the data's ``mean``/``std``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

CELL = 1.5  # inches per image cell
DPI = 110


def _figure(rows: int, cols: int, *, cell: float = CELL, extra_height: float = 0.6, images: bool = True):
    """A constrained-layout figure of rows×cols cells; image cells get no ticks."""
    from matplotlib.figure import Figure

    height = rows * cell + extra_height
    # Constrained layout places titles and colour bars best but costs seconds on big grids: lay those out by hand.
    big = rows * cols > 40
    fig = Figure(figsize=(max(cols * cell, 3.0), height), dpi=DPI, layout=None if big else "constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    if big:
        fig.subplots_adjust(left=0.02, right=0.88, bottom=0.02, top=1 - extra_height / height, wspace=0.15,
                            hspace=0.4)
    if images:
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig, axes


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    return path


def to_display(image: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> np.ndarray:
    """A ``(C, H, W)`` model input as an array for ``imshow``: ``(H, W)`` grey or ``(H, W, 3)`` RGB, in [0, 1].

    Un-normalized with ``mean``/``std`` when given, else min-max scaled.

    Example:
        >>> to_display(torch.zeros(1, 8, 8), mean=[0.5], std=[0.25]).shape
        (8, 8)
    """
    x = image.detach().float().cpu()
    if mean is not None and std is not None:
        x = x * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
        x = x.clamp(0, 1)
    else:
        x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    if x.shape[0] == 1:
        return x[0].numpy()
    if x.shape[0] == 3:
        return x.permute(1, 2, 0).numpy()
    return x.mean(dim=0).numpy()


def _show_image(ax, image: np.ndarray) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")


def _grid_shape(n: int, max_cols: int = 8) -> tuple[int, int]:
    cols = min(max_cols, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def plot_feature_maps(maps: Tensor, path: Path, *, title: str, image: np.ndarray | None = None,
                      max_channels: int = 64) -> Path:
    """Each channel of ``maps`` ``(C, H', W')`` as a heat map on one shared colour scale, the input first.

    Example:
        >>> plot_feature_maps(torch.rand(4, 6, 6), tmp / "maps.png", title="stem")  # doctest: +SKIP
    """
    maps = maps.detach().float().cpu()
    shown = maps[:max_channels]
    n = shown.shape[0] + (image is not None)
    rows, cols = _grid_shape(n)
    fig, axes = _figure(rows, cols, extra_height=0.9)
    vmin, vmax = float(shown.min()), float(shown.max())
    cells = list(axes.flat)
    if image is not None:
        _show_image(cells[0], image)
        cells[0].set_title("input", fontsize=9, fontweight="bold")
        cells = cells[1:]
    im = None
    for c, ax in zip(range(shown.shape[0]), cells):
        im = ax.imshow(shown[c].numpy(), cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(f"ch {c}  max {float(shown[c].max()):.2g}", fontsize=8)
    for ax in cells[shown.shape[0]:]:
        ax.axis("off")
    more = f" (first {max_channels} of {maps.shape[0]} channels)" if maps.shape[0] > max_channels else ""
    fig.suptitle(f"{title}{more}", fontsize=11)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="activation (shared scale)")
    return _save(fig, path)


def plot_filters(weights: Tensor, path: Path, *, title: str, max_filters: int = 64, max_inputs: int = 8) -> Path:
    """Convolution filters ``(O, I, kh, kw)``: RGB per filter when I == 3, else one diverging heat map per kernel.

    With ``I > 3`` the grid shows (up to ``max_inputs``) output filters as rows and input channels as columns.
    """
    w = weights.detach().float().cpu()
    o, i = w.shape[:2]
    if i == 3:
        shown = w[:max_filters]
        rows, cols = _grid_shape(shown.shape[0])
        fig, axes = _figure(rows, cols, cell=1.2)
        for k, ax in zip(range(shown.shape[0]), axes.flat):
            f = shown[k]
            f = (f - f.min()) / (f.max() - f.min()).clamp_min(1e-12)
            ax.imshow(f.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(f"filter {k}", fontsize=8)
        for ax in list(axes.flat)[shown.shape[0]:]:
            ax.axis("off")
        fig.suptitle(f"{title}: RGB filters, each min-max scaled", fontsize=11)
        return _save(fig, path)
    if i == 1:
        kernels, labels = w[:max_filters, 0], [f"filter {k}" for k in range(min(o, max_filters))]
        rows, cols = _grid_shape(kernels.shape[0])
    else:
        n_out, n_in = min(o, max_inputs), min(i, max_inputs)
        kernels = w[:n_out, :n_in].reshape(-1, *w.shape[2:])
        labels = [f"in {b}" if a == 0 else "" for a in range(n_out) for b in range(n_in)]
        rows, cols = n_out, n_in
    fig, axes = _figure(rows, cols, cell=1.1, extra_height=0.9)
    limit = float(kernels.abs().max()) or 1.0
    im = None
    for k, ax in zip(range(kernels.shape[0]), axes.flat):
        im = ax.imshow(kernels[k].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        if labels[k]:
            ax.set_title(labels[k], fontsize=8)
    if i > 3:
        for a in range(rows):
            axes[a, 0].set_ylabel(f"out {a}", fontsize=8)
    for ax in list(axes.flat)[kernels.shape[0]:]:
        ax.axis("off")
    shown = "" if (i == 1 and o <= max_filters) else f" (rows: output filters, columns: input channels; first " \
        f"{rows} of {o} × {cols} of {i})"
    fig.suptitle(f"{title}: weights{shown}", fontsize=11)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="weight")
    return _save(fig, path)


def plot_weight_histograms(weights: Mapping[str, Mapping[str, Tensor]], path: Path, *, title: str,
                           max_layers: int = 24) -> Path:
    """One histogram per convolution/linear layer: weights in blue, biases in orange (own axis), std in the title.

    Norm layers (1-D weights) are left out: their scales and shifts are not filters.
    """
    names = [n for n, p in weights.items() if "weight" in p and p["weight"].dim() >= 2][:max_layers]
    rows, cols = _grid_shape(len(names), max_cols=4)
    fig, axes = _figure(rows, cols, cell=2.8, extra_height=0.6, images=False)
    for name, ax in zip(names, axes.flat):
        w = weights[name]["weight"].flatten().numpy()
        ax.hist(w, bins=50, color="tab:blue", alpha=0.85)
        text = f"{name}\nweights n={w.size:,} std {w.std():.2g}"
        if "bias" in weights[name]:
            b = weights[name]["bias"].flatten().numpy()
            twin = ax.twinx()
            twin.hist(b, bins=20, color="tab:orange", alpha=0.7)
            twin.tick_params(labelsize=6, colors="tab:orange")
            text += f"\nbias std {b.std():.2g}"
        ax.set_title(text, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.locator_params(axis="x", nbins=4)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"{title} (blue: weights, orange: biases; counts on the y axes)", fontsize=11)
    return _save(fig, path)

def _box(ax, box: Sequence[int] | None, color: str = "red") -> None:
    if box is None:
        return
    from matplotlib.patches import Rectangle

    top, left, bottom, right = box  # half-open: pixel edges sit at -0.5 in imshow coordinates
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, edgecolor=color,
                           linewidth=2))


def plot_top_patches(result, path: Path, *, mean=None, std=None, class_names: Sequence[str] | None = None,
                     pairs_per_row: int = 3) -> Path:
    """For each of the top activations: the image with the unit's receptive field boxed, and the patch enlarged."""
    patches = result.patches
    rows = max(1, math.ceil(len(patches) / pairs_per_row))
    fig, axes = _figure(rows, 2 * pairs_per_row, cell=1.6, extra_height=0.8)
    for rank, p in enumerate(patches):
        ax_img, ax_patch = axes.flat[2 * rank], axes.flat[2 * rank + 1]
        _show_image(ax_img, to_display(p.image, mean, std))
        _box(ax_img, p.box)
        label = "" if p.label is None else f" ({class_names[p.label] if class_names else p.label})"
        ax_img.set_title(f"#{rank + 1}: image {p.index}{label}", fontsize=8)
        _show_image(ax_patch, to_display(p.patch, mean, std) if p.box is not None else to_display(p.image, mean, std))
        pos = ",".join(map(str, p.position))
        ax_patch.set_title(f"{p.value:.3g} at unit ({pos})", fontsize=8)
    for ax in list(axes.flat)[2 * len(patches):]:
        ax.axis("off")
    fig.suptitle(f"top {len(patches)} of {result.images_seen} images for {result.layer} channel {result.channel}"
                 " (red: receptive field)", fontsize=11)
    return _save(fig, path)


def plot_receptive_field(rf, path: Path, *, image: np.ndarray | None = None, input_hw: tuple[int, int]) -> Path:
    """Left: the image, dimmed where a pixel cannot change the unit, with the field's box.
    Right: the exact mask (white: can change the unit) with the analytic window dashed."""
    fig, axes = _figure(1, 2, cell=3.4, extra_height=0.9)
    ax_img, ax_mask = axes[0, 0], axes[0, 1]
    _show_image(ax_img, image if image is not None else np.full(input_hw, 0.85))
    mask = rf.mask.float().numpy()
    shade = np.zeros((*mask.shape, 4))
    shade[..., 3] = 0.7 * (1 - mask)  # black veil outside the field
    ax_img.imshow(shade, interpolation="nearest")
    _box(ax_img, rf.box)
    ax_img.set_title("input; dimmed: cannot affect the unit", fontsize=8)
    ax_mask.imshow(mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax_mask.set_facecolor("#9ecae1")  # outside the image, where the analytic window may reach
    a = rf.analytic
    if a is not None and len(rf.unit) == 3:
        (t, b), (l, r) = a.window(rf.unit[1:])
        from matplotlib.patches import Rectangle

        ax_mask.add_patch(Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, edgecolor="tab:orange",
                                    linestyle="--", linewidth=2))
        ax_mask.set_xlim(min(l, 0) - 0.5, max(r, input_hw[1]) - 0.5)
        ax_mask.set_ylim(max(b, input_hw[0]) - 0.5, min(t, 0) - 0.5)
        analytic = (f"analytic (orange, may pass the border): size {'×'.join(map(str, a.size))}, "
                    f"stride {'×'.join(map(str, a.stride))}")
    else:
        analytic = "analytic: n/a (not a conv/pool chain)"
    ax_mask.set_title("exact field: white; outside the image: blue", fontsize=8)
    size = "×".join(map(str, rf.size))
    fig.suptitle(f"{rf.layer} unit {rf.unit}: exact field {size} px ({int(rf.mask.sum())} pixels)\n{analytic}",
                 fontsize=10)
    return _save(fig, path)

def plot_maximization(result, path: Path, *, title: str) -> Path:
    """The synthesized images and the objective per step, against its value on noise."""
    from matplotlib.figure import Figure

    n = result.images.shape[0]
    fig = Figure(figsize=(2.2 * n + 4.5, 2.9), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(1, n + 2)
    for k in range(n):
        ax = fig.add_subplot(grid[0, k])
        ax.set_xticks([])
        ax.set_yticks([])
        c = result.images.shape[1]
        _show_image(ax, to_display(result.images[k], [0.0] * c, [1.0] * c))
        ax.set_title(f"image {k}: {result.values[k]:.3g}", fontsize=8)
    curve = fig.add_subplot(grid[0, n:])
    curve.plot(range(1, len(result.curve) + 1), result.curve, label="during optimization")
    curve.axhline(result.noise_value, color="gray", linestyle="--", label=f"on noise: {result.noise_value:.3g}")
    curve.axhline(result.final_value, color="tab:green", linestyle=":", label=f"final: {result.final_value:.3g}")
    curve.set_xlabel("step", fontsize=8)
    curve.set_ylabel("objective", fontsize=8)
    curve.tick_params(labelsize=7)
    curve.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)

def plot_attributions(images: Tensor, maps: Tensor, path: Path, *, method: str, titles: Sequence[str],
                      mean=None, std=None) -> Path:
    """Per image: the input, the attribution heat map (summed over channels) with a colour bar, and an overlay."""
    fig, axes = _figure(images.shape[0], 3, cell=2.0, extra_height=0.6)
    for k in range(images.shape[0]):
        shown = to_display(images[k], mean, std)
        heat = maps[k].detach().float().cpu().sum(dim=0).numpy()  # (H, W)
        signed = bool((heat < 0).any())
        limit = float(np.abs(heat).max()) or 1.0
        cmap, vmin = ("RdBu_r", -limit) if signed else ("inferno", 0.0)
        _show_image(axes[k, 0], shown)
        axes[k, 0].set_title(titles[k], fontsize=8)
        im = axes[k, 1].imshow(heat, cmap=cmap, vmin=vmin, vmax=limit, interpolation="nearest")
        axes[k, 1].set_title(method, fontsize=8)
        fig.colorbar(im, ax=axes[k, 1], shrink=0.8)
        _show_image(axes[k, 2], shown)
        colours = im.cmap(im.norm(heat))  # (H, W, 4); opaque where |attribution| is large, clear where ~0
        colours[..., 3] = 0.8 * np.clip(np.abs(heat) / limit, 0, 1)
        axes[k, 2].imshow(colours, interpolation="nearest")
        axes[k, 2].set_title("overlay (opacity ∝ |value|)", fontsize=8)
    fig.suptitle(f"{method}: which pixels the target class's logit depends on", fontsize=11)
    return _save(fig, path)


def plot_sweeps(sweeps: Mapping[str, object], path: Path, *, title: str) -> Path:
    """One panel per augmentation: the channel's response per level, the unchanged image's as a dashed line."""
    names = list(sweeps)
    units = {"noise": "noise std (pixels)", "blur": "Gaussian sigma (px)", "rotation": "degrees",
             "brightness": "multiplier", "occlusion": "occluder side / image side"}
    fig, axes = _figure(1, len(names), cell=2.8, extra_height=0.9, images=False)
    top = max(max(max(sw.responses), sw.baseline) for sw in sweeps.values())
    bottom = min(min(min(sw.responses), sw.baseline) for sw in sweeps.values())
    pad = 0.05 * (top - bottom or 1.0)
    for name, ax in zip(names, axes.flat):
        sweep = sweeps[name]
        ax.plot(sweep.levels, sweep.responses, marker="o")
        ax.axhline(sweep.baseline, color="gray", linestyle="--", linewidth=1)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(units.get(name, "level"), fontsize=8)
        ax.set_ylim(bottom - pad, top + pad)  # one scale for all panels: responses compare across augmentations
        ax.locator_params(axis="x", nbins=5)
        ax.tick_params(labelsize=7)
    axes.flat[0].set_ylabel("channel response", fontsize=8)
    fig.suptitle(f"{title} (dashed: unchanged image)", fontsize=11)
    return _save(fig, path)

def plot_filter_comparison(cmp, path: Path, *, max_filters: int = 16) -> Path:
    """First input channel of each shared filter before (row 1) and after (row 2), with the relative change."""
    n = min(cmp.shared, max_filters)
    fig, axes = _figure(2, n, cell=1.2, extra_height=0.9)
    limit = float(max(cmp.a[:n].abs().max(), cmp.b[:n].abs().max())) or 1.0
    im = None
    for k in range(n):
        for row, w in enumerate((cmp.a, cmp.b)):
            im = axes[row, k].imshow(w[k, 0].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        axes[0, k].set_title(f"filter {k}", fontsize=7)
        axes[1, k].set_title(f"Δ {float(cmp.relative_change[k]):.0%}", fontsize=7)
    axes[0, 0].set_ylabel("before", fontsize=8)
    axes[1, 0].set_ylabel("after", fontsize=8)
    added = f"; {cmp.added} new filters" if cmp.added else ""
    fig.suptitle(f"{cmp.layer}: filters before/after (input channel 0){added}", fontsize=11)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.9, label="weight")
    return _save(fig, path)


def plot_activation_change(before: Tensor, after: Tensor, change, path: Path, *, title: str, mean=None,
                           std=None) -> Path:
    """The two inputs, the channel's map for each (shared scale) and their difference."""
    fig, axes = _figure(1, 5, cell=2.0, extra_height=0.6)
    _show_image(axes[0, 0], to_display(before, mean, std))
    axes[0, 0].set_title("before", fontsize=8)
    _show_image(axes[0, 1], to_display(after, mean, std))
    axes[0, 1].set_title("after", fontsize=8)
    lo = float(min(change.before.min(), change.after.min()))
    hi = float(max(change.before.max(), change.after.max()))
    for ax, m, name in ((axes[0, 2], change.before, f"map before (max {change.before_value:.3g})"),
                        (axes[0, 3], change.after, f"map after (max {change.after_value:.3g})")):
        im = ax.imshow(m.numpy(), cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(name, fontsize=8)
    fig.colorbar(im, ax=[axes[0, 2], axes[0, 3]], shrink=0.8)
    d = change.delta.numpy()
    limit = float(np.abs(d).max()) or 1.0
    im = axes[0, 4].imshow(d, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    axes[0, 4].set_title("after − before", fontsize=8)
    fig.colorbar(im, ax=axes[0, 4], shrink=0.8)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)
