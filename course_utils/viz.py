"""Pictures every lesson draws: image grids, loss curves, latent scatter plots.

Each function draws on an ``ax`` you pass (or a new figure), always with a title and labelled
axes, and returns the figure so a notebook can show it or a script can save it.
"""

from __future__ import annotations

import io
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "image_grid",
    "show_images",
    "show_rows",
    "plot_losses",
    "plot_curves",
    "latent_scatter",
    "figure_png",
    "draw_2d",
    "plot_2d",
]


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def image_grid(images: Any, nrow: int = 8, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tile ``N x C x H x W`` (or ``N x H x W``) images into one ``H' x W'`` (or ``x 3``) array.

    Values are clipped to [0, 1]; the last row is padded with ``pad_value``.
    """
    x = _numpy(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"expected N x C x H x W images, got shape {x.shape}")
    n, c, h, w = x.shape
    x = np.clip(x, 0.0, 1.0)
    ncol = max(1, min(nrow, n))
    nrows = max(1, -(-n // ncol))
    grid = np.full((c, nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, np.float32)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def show_images(
    images: Any,
    title: str,
    nrow: int = 8,
    ax: Axes | None = None,
    labels: Sequence[Any] | None = None,
) -> Figure:
    """Show images as a grid with a title; ``labels`` (one per image) are listed under it."""
    if ax is None:
        n = len(images)
        ncol = max(1, min(nrow, n))
        fig, ax = plt.subplots(figsize=(min(1.0 * ncol, 10), min(1.0 * -(-n // ncol), 10) + 0.6))
    grid = image_grid(images, nrow=nrow)
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if labels is not None:
        ax.set_xlabel(" ".join(str(label) for label in labels))
    return ax.figure


def show_rows(rows: Mapping[str, Any], title: str, ax: Axes | None = None) -> Figure:
    """Show several equally long image sets as labelled rows (e.g. originals over reconstructions)."""
    names = list(rows)
    n = len(rows[names[0]])
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(0.8 * n + 1.5, 12), 0.8 * len(names) + 0.8))
    stacked = torch.cat([torch.as_tensor(_numpy(rows[k])) for k in names])
    ax.imshow(image_grid(stacked, nrow=n), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    h = stacked.shape[-2] + 1
    ax.set_yticks([1 + h * i + h / 2 for i in range(len(names))], names)
    ax.set_xticks([])
    ax.set_title(title)
    return ax.figure


def plot_losses(
    history: Any, ax: Axes | None = None, title: str = "training loss", keys: Sequence[str] | None = None
) -> Figure:
    """Per-step loss terms (faint) and their per-epoch means (solid) of a ``History``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    step = history.step if hasattr(history, "step") else history
    epoch = getattr(history, "epoch", {})
    keys = list(keys or step)
    for i, key in enumerate(keys):
        values = step[key]
        color = f"C{i}"
        ax.plot(np.arange(1, len(values) + 1), values, color=color, alpha=0.25, lw=0.8)
        if key in epoch and epoch[key]:
            per_epoch = len(values) / len(epoch[key])
            xs = per_epoch * np.arange(1, len(epoch[key]) + 1)
            ax.plot(xs, epoch[key], color=color, lw=1.8, label=f"{key} (epoch mean)")
        else:
            ax.plot([], [], color=color, label=key)
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if keys:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return ax.figure


def plot_curves(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    title: str,
    xlabel: str,
    ylabel: str,
    ax: Axes | None = None,
    logx: bool = False,
) -> Figure:
    """Several named curves over the same x values, with markers, a legend and a grid."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for name, ys in curves.items():
        ax.plot(x, ys, marker="o", ms=4, label=name)
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(list(x), [f"{v:g}" for v in x])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return ax.figure


def latent_scatter(
    z: Any,
    y: Any,
    title: str = "latent codes",
    ax: Axes | None = None,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Scatter 2D codes coloured by class, with a legend of class names."""
    z, y = _numpy(z), np.asarray(_numpy(y), dtype=int)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_scatter draws 2D codes, got shape {z.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    for k in np.unique(y):
        sel = y == k
        name = class_names[k] if class_names is not None else str(k)
        ax.scatter(z[sel, 0], z[sel, 1], s=6, alpha=0.7, color=plt.cm.tab10(k % 10), label=name)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    ax.legend(markerscale=2.5, fontsize="small", loc="best", ncol=2)
    return ax.figure


def draw_2d(
    ax: Axes,
    data_points: Any,
    extent: Sequence[float],
    *,
    samples: Any = None,
    field: Any = None,
    point_size: float = 2.0,
    alpha: float = 0.5,
) -> tuple[Any, Any]:
    """The picture of a 2D GAN on ``ax``: data points (black), generated points (orange), a field behind.

    ``field`` is a ``G x G`` grid of values on :func:`course_utils.widgets.field_grid` (rows = y):
    probabilities in [0, 1] are drawn on a fixed scale, anything else (a critic) on its own range.
    Returns the two parts that move during training, the field's image and the generated points, so
    a widget can update them in place (:class:`course_utils.widgets.SnapshotPlot`).
    """
    values = _numpy(field) if field is not None else np.zeros((2, 2))
    bounded = 0.0 <= values.min() <= values.max() <= 1.0
    background = ax.imshow(
        values,
        extent=tuple(extent),
        origin="lower",
        cmap="RdBu_r",
        alpha=alpha,
        aspect="auto",
        vmin=0 if bounded else None,
        vmax=1 if bounded else None,
    )
    background.set_visible(field is not None)
    points = _numpy(data_points)
    generated = _numpy(samples) if samples is not None else np.zeros((0, 2))
    ax.scatter(points[:, 0], points[:, 1], s=point_size, color="black", alpha=0.3, label="data")
    moving = ax.scatter(
        generated[:, 0], generated[:, 1], s=point_size * 1.25, color="tab:orange", alpha=alpha, label="generated"
    )
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return background, moving


def plot_2d(
    samples: Any,
    data_points: Any,
    extent: Sequence[float],
    *,
    field: Any = None,
    ax: Axes | None = None,
    title: str = "generated points over the data",
) -> Figure:
    """Generated 2D points over the data points, with a discriminator's or critic's field behind (:func:`draw_2d`)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4))
    draw_2d(ax, data_points, extent, samples=samples, field=field)
    ax.set_title(title, fontsize=9)
    return ax.figure


def figure_png(fig: Figure, dpi: int = 100, tight: bool = True) -> bytes:
    """The PNG bytes of a figure (for ``ipywidgets.Image`` or for saving).

    ``tight`` crops to what is drawn, which draws the figure twice; a widget that redraws one
    figure many times lays it out once instead and passes ``tight=False``.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buffer.getvalue()
