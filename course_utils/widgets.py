"""Interactive views of a latent space: latent perturbation and interpolation.

Each widget is a thin ipywidgets view over pure functions (codes and slider values in, image out),
so the pictures are unit-tested without a browser. A widget builds its controls once; a slider
move only recomputes the decoded image and replaces the PNG bytes of an ``ipywidgets.Image``.
The output is never rebuilt, so the view stays fast in JupyterLab and Voila.

``decode`` is any function from codes ``M x k`` to images ``M x C x H x W`` in [0, 1]: a VAE's
decoder (lesson 02), or a GAN's generator (lesson 04).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

__all__ = [
    "to_png",
    "decode_images",
    "model_device",
    "perturb",
    "lerp",
    "slerp",
    "interpolation_path",
    "perturbation_frame",
    "interpolation_frame",
    "View",
    "LatentPerturbation",
    "Interpolation",
    "Snapshot",
    "SnapshotPlot",
    "ModeCollapseExplorer",
]

Decode = Callable[[torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------------------------------------
# Pure functions
# ------------------------------------------------------------------------------------------------
def to_png(image: np.ndarray, scale: int = 16) -> bytes:
    """PNG bytes of a grey (H x W) or colour (H x W x 3) image in [0, 1], enlarged ``scale`` times."""
    from PIL import Image

    pixels = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    pixels = np.kron(pixels, np.ones((scale, scale) + (1,) * (pixels.ndim - 2), dtype=np.float32))
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def model_device(fn: Callable) -> torch.device | None:
    """The device of the model behind ``fn``: a module itself, or the module of a bound method
    (``vae.mean_image``); ``None`` for a plain function, whose inputs are left where they are."""
    owner = fn if isinstance(fn, torch.nn.Module) else getattr(fn, "__self__", None)
    if isinstance(owner, torch.nn.Module):
        for tensor in (*owner.parameters(), *owner.buffers()):
            return tensor.device
    return None


@torch.no_grad()
def decode_images(decode: Decode, z: torch.Tensor) -> np.ndarray:
    """Decode codes ``M x k`` (or one code ``k``) and return images ``M x H x W`` (or ``x 3``) as NumPy."""
    z = z.unsqueeze(0) if z.dim() == 1 else z
    device = model_device(decode)
    if device is not None:
        z = z.to(device)
    x = decode(z).detach().float().cpu()
    if x.dim() == 4:
        x = x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)
    return x.numpy()


def perturb(z: torch.Tensor, dim: int, value: float) -> torch.Tensor:
    """A copy of the code ``z`` (shape ``k``) with coordinate ``dim`` set to ``value``."""
    if not 0 <= dim < z.shape[-1]:
        raise IndexError(f"dimension {dim} does not exist in a {z.shape[-1]}-dimensional code")
    out = z.detach().clone()
    out[..., dim] = value
    return out


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation (1 − t)·z0 + t·z1."""
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985): along the great circle, with the norm interpolated too.

    With Ω the angle between z0 and z1: sin((1 − t)Ω)/sin Ω · ẑ0 + sin(tΩ)/sin Ω · ẑ1, rescaled to
    the linearly interpolated norm. Under a Gaussian prior, a straight line between two codes
    passes near the origin, where codes are atypical (their norm is far below √k); this path
    keeps a typical norm. Falls back to ``lerp`` when the codes are (anti)parallel.
    """
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    u0, u1 = z0 / n0.clamp_min(eps), z1 / n1.clamp_min(eps)
    omega = torch.acos((u0 * u1).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps))
    sin = torch.sin(omega)
    if float(sin.abs().min()) < 1e-4:
        return lerp(z0, z1, t)
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / sin
    return direction * lerp(n0, n1, t)


def interpolation_path(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """``steps`` codes from z0 to z1 (both included), ``method`` 'linear' or 'spherical'."""
    ts = torch.linspace(0, 1, steps, dtype=z0.dtype).unsqueeze(1)
    if method == "linear":
        return lerp(z0.unsqueeze(0), z1.unsqueeze(0), ts)
    if method == "spherical":
        return torch.cat([slerp(z0, z1, float(t)).unsqueeze(0) for t in ts])
    raise ValueError(f"method must be 'linear' or 'spherical', not {method!r}")


def _tile(images: np.ndarray, pad: int = 1) -> np.ndarray:
    from .viz import image_grid

    stacked = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return image_grid(stacked, nrow=len(images), pad=pad)


def perturbation_frame(decode: Decode, z: torch.Tensor, dim: int, value: float) -> np.ndarray:
    """The image decoded from ``z`` with coordinate ``dim`` set to ``value`` (H x W)."""
    return decode_images(decode, perturb(z, dim, value))[0]


def interpolation_frame(decode: Decode, z0: torch.Tensor, z1: torch.Tensor, t: float, steps: int = 9) -> np.ndarray:
    """Two strips, linear path over spherical path, each ending with the image at ``t`` (enlarged).

    Returned as one array: row 1 the linear path's ``steps`` images then the one at ``t``,
    row 2 the same for the spherical path.
    """
    rows = []
    for method, point in (("linear", lerp(z0, z1, t)), ("spherical", slerp(z0, z1, t))):
        path = interpolation_path(z0, z1, steps, method)
        images = decode_images(decode, torch.cat([path, point.unsqueeze(0)]))
        strip = _tile(images[:-1])
        current = _tile(images[-1:])
        height = max(strip.shape[0], current.shape[0])
        gap = np.ones((height, 6) + strip.shape[2:], dtype=np.float32)
        rows.append(np.concatenate([strip, gap, current], axis=1))
    gap = np.ones((4,) + rows[0].shape[1:], dtype=np.float32)
    return np.concatenate([rows[0], gap, rows[1]], axis=0)


# ------------------------------------------------------------------------------------------------
# Views
# ------------------------------------------------------------------------------------------------
class View:
    """What every view shares: a root ``widget``, one main ``slider``, the ``image`` it redraws and a
    ``readout`` whose first number is the main slider's value.

    The root carries the CSS classes ``course-widget`` and ``course-widget-<kind>`` (kind: the class
    name in kebab case), the slider ``course-main-slider``, the image ``course-widget-image`` and the
    readout ``course-widget-readout``: the browser tests and the lecture dashboard find them by these.
    """

    widget: "object"

    @classmethod
    def kind(cls) -> str:
        """The view's CSS kind: its class name in kebab case (``LatentPerturbation`` -> ``latent-perturbation``)."""
        import re

        return re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()

    def _mark(self, slider, image, readout) -> None:
        for element, name in (
            (self.widget, "course-widget"),
            (self.widget, f"course-widget-{self.kind()}"),
            (slider, "course-main-slider"),
            (image, "course-widget-image"),
            (readout, "course-widget-readout"),
        ):
            element.add_class(name)
        image.layout.align_self = "flex-start"  # its own size: a column would stretch it to the page's width

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class LatentPerturbation(View):
    """Pick an image, pick a latent dimension, slide its value; the decoded image follows.

    Args:
        decode: codes ``M x k`` -> images.
        codes: the codes of the images to choose from (``N x k``), e.g. the encoder's means.
        images: the original images (``N x C x H x W``), shown beside the decoding.
        value_range: the value slider runs over ``[-value_range, value_range]``.
    """

    def __init__(
        self,
        decode: Decode,
        codes: torch.Tensor,
        images: torch.Tensor | None = None,
        value_range: float = 3.0,
        scale: int = 20,
        labels: Sequence[str] | None = None,
    ):
        import ipywidgets as w

        self.decode, self.codes, self.images, self.scale = decode, codes.detach().cpu(), images, scale
        self.labels = labels
        k = self.codes.shape[1]
        self.index = w.IntSlider(0, 0, len(self.codes) - 1, description="image")
        self.dim = w.Dropdown(options=[(f"z[{i}]", i) for i in range(k)], value=0, description="dimension")
        self.value = w.FloatSlider(
            float(self.codes[0, 0]),
            min=-value_range,
            max=value_range,
            step=0.05,
            description="value",
            continuous_update=True,
            readout_format=".2f",
        )
        self.readout = w.Label()
        self.original = w.Image(format="png")
        self.image = w.Image(format="png")
        self.index.observe(self._on_pick, "value")
        self.dim.observe(self._on_pick, "value")
        self.value.observe(self._on_value, "value")
        self._on_pick()
        originals = [w.VBox([w.Label("original"), self.original])] if images is not None else []
        self.widget = w.VBox(
            [
                w.HBox([self.index, self.dim]),
                self.value,
                w.HBox(originals + [w.VBox([w.Label("decoded"), self.image])]),
                self.readout,
            ]
        )
        self._mark(self.value, self.image, self.readout)

    def frame(self) -> np.ndarray:
        """The decoded image for the current slider values (pure: reads only the sliders)."""
        return perturbation_frame(self.decode, self.codes[self.index.value], self.dim.value, self.value.value)

    def _on_pick(self, change=None) -> None:
        z = self.codes[self.index.value]
        if self.images is not None:
            self.original.value = to_png(
                decode_images(lambda x: x, self.images[self.index.value : self.index.value + 1])[0], self.scale
            )
        value = float(z[self.dim.value])
        if self.value.value != value:
            self.value.value = max(self.value.min, min(self.value.max, value))  # triggers _on_value
        else:
            self._on_value()

    def _on_value(self, change=None) -> None:
        z = self.codes[self.index.value]
        self.image.value = to_png(self.frame(), self.scale)
        label = f" (label {self.labels[self.index.value]})" if self.labels is not None else ""
        self.readout.value = (
            f"{self.value.value:+.2f} in z[{self.dim.value}] of image {self.index.value}{label}; "
            f"its own code has {float(z[self.dim.value]):+.2f}"
        )


class Interpolation(View):
    """Pick two codes; a slider walks from one to the other, linear and spherical paths side by side.

    Args:
        decode: codes ``M x k`` -> images.
        codes: the codes to choose the two ends from (``N x k``): encodings, or prior samples.
        steps: images in each strip.
    """

    def __init__(
        self, decode: Decode, codes: torch.Tensor, steps: int = 9, scale: int = 6, start: int = 0, end: int = 1
    ):
        import ipywidgets as w

        self.decode, self.codes, self.steps, self.scale = decode, codes.detach().cpu(), steps, scale
        n = len(self.codes)
        self.start = w.IntSlider(start, 0, n - 1, description="from")
        self.end = w.IntSlider(end, 0, n - 1, description="to")
        self.t = w.FloatSlider(0.5, min=0.0, max=1.0, step=0.02, description="t", readout_format=".2f")
        self.readout = w.Label()
        self.image = w.Image(format="png")
        for control in (self.start, self.end, self.t):
            control.observe(self._update, "value")
        self._update()
        self.widget = w.VBox(
            [
                w.HBox([self.start, self.end]),
                self.t,
                w.Label("top: linear path; bottom: spherical path; right: the image at t"),
                self.image,
                self.readout,
            ]
        )
        self._mark(self.t, self.image, self.readout)

    def frame(self) -> np.ndarray:
        """Both strips and the image at the current t (pure: reads only the sliders)."""
        return interpolation_frame(
            self.decode, self.codes[self.start.value], self.codes[self.end.value], self.t.value, self.steps
        )

    def _update(self, change=None) -> None:
        z0, z1 = self.codes[self.start.value], self.codes[self.end.value]
        t = self.t.value
        self.image.value = to_png(self.frame(), self.scale)
        self.readout.value = (
            f"t = {t:.2f}: |z| linear {float(lerp(z0, z1, t).norm()):.2f}, "
            f"spherical {float(slerp(z0, z1, t).norm()):.2f} (ends {float(z0.norm()):.2f}, "
            f"{float(z1.norm()):.2f})"
        )


# ------------------------------------------------------------------------------------------------
# Mode-collapse explorer (lessons 04 and 05)
# ------------------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """The state of a 2D GAN at one training step: generated points and the discriminator's field."""

    step: int
    samples: torch.Tensor  #: M x 2 generated points
    field: torch.Tensor | None = None  #: G x G discriminator (or critic) values on the plot's grid, rows = y
    note: str = ""  #: a line shown under the plot (losses, coverage)


def field_grid(extent: tuple[float, float, float, float], resolution: int = 80) -> torch.Tensor:
    """The points (``resolution² x 2``) at which a :class:`Snapshot`'s field is evaluated, rows = y."""
    x0, x1, y0, y1 = extent
    ys, xs = torch.meshgrid(torch.linspace(y0, y1, resolution), torch.linspace(x0, x1, resolution), indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


class SnapshotPlot:
    """One figure, made once; :meth:`render` moves its artists to a snapshot and returns PNG bytes."""

    def __init__(
        self,
        data_points: torch.Tensor,
        extent: tuple[float, float, float, float],
        title: str,
        field_label: str = "D(x)",
        size: float = 4.6,
    ):
        from matplotlib.figure import Figure

        from .viz import draw_2d

        self.extent = extent
        # Not a pyplot figure: the inline backend never sees it, so a cell that makes an explorer
        # shows the widget only, not a stray copy of the figure.
        self.fig = Figure(figsize=(size + 0.9, size))
        self.ax = self.fig.subplots()
        self.background, self.generated = draw_2d(self.ax, data_points, extent, point_size=4.0, alpha=0.55)
        self.colorbar = self.fig.colorbar(self.background, ax=self.ax, fraction=0.046, pad=0.04, label=field_label)
        self.ax.legend(loc="upper right", fontsize="small", markerscale=3)
        self.title = title
        self.ax.set_title(title)
        self.footer = self.fig.text(0.02, 0.01, "", fontsize=8)
        self.fig.tight_layout(rect=(0, 0.05, 1, 1))  # once: every frame keeps this layout (a slider move draws once)

    def render(self, snapshot: Snapshot, dpi: int = 80) -> bytes:
        """PNG bytes of the figure showing ``snapshot`` (artists updated in place, nothing rebuilt)."""
        from .viz import figure_png

        if snapshot.field is not None:
            field = snapshot.field.detach().cpu().numpy()
            low, high = float(field.min()), float(field.max())
            if not 0.0 <= low <= high <= 1.0:  # a critic: unbounded values, scale to this frame
                self.background.set_clim(low, high if high > low else low + 1e-6)
            else:
                self.background.set_clim(0, 1)
            self.background.set_data(field)
            self.background.set_visible(True)
        else:
            self.background.set_visible(False)
        self.generated.set_offsets(snapshot.samples.detach().cpu().numpy())
        self.ax.set_title(f"{self.title}: step {snapshot.step}")
        self.footer.set_text(snapshot.note)
        return figure_png(self.fig, dpi=dpi, tight=False)

    def close(self) -> None:
        """Release the figure's drawing (it belongs to no pyplot window)."""
        self.fig.clear()


class ModeCollapseExplorer(View):
    """A training-step slider over snapshots of a 2D GAN: generated points over the data, D behind them.

    Args:
        snapshots: what the run recorded (see :class:`Snapshot`), in step order.
        data_points: real samples to draw in the background.
        extent: the plotted square ``(x0, x1, y0, y1)``; fields must be evaluated on :func:`field_grid`.
        prerender: draw every frame now (about 50 ms each on a laptop CPU), so that a slider move or
            Play only swaps PNG bytes and never waits for matplotlib; otherwise each frame is drawn
            on its first visit.
    """

    def __init__(
        self,
        snapshots: Sequence[Snapshot],
        data_points: torch.Tensor,
        extent: tuple[float, float, float, float],
        title: str = "GAN",
        field_label: str = "D(x)",
        prerender: bool = True,
    ):
        import ipywidgets as w

        if not snapshots:
            raise ValueError("no snapshots to explore: record some while training")
        self.snapshots = list(snapshots)
        self._frames: dict[int, bytes] = {}
        self.plot = SnapshotPlot(data_points, extent, title, field_label)
        if prerender:
            for index in range(len(self.snapshots)):
                self.frame(index)
        self.step = w.IntSlider(0, 0, len(self.snapshots) - 1, description="snapshot")
        self.play = w.Play(value=0, min=0, max=len(self.snapshots) - 1, interval=300, description="play")
        w.jslink((self.play, "value"), (self.step, "value"))
        self.readout = w.Label()
        self.image = w.Image(format="png")
        self.step.observe(self._update, "value")
        self._update()
        self.widget = w.VBox([w.HBox([self.play, self.step]), self.image, self.readout])
        self._mark(self.step, self.image, self.readout)

    def frame(self, index: int | None = None) -> bytes:
        """PNG bytes of snapshot ``index`` (default: the slider's); each is drawn once, then cached."""
        index = self.step.value if index is None else index
        if index not in self._frames:
            self._frames[index] = self.plot.render(self.snapshots[index])
        return self._frames[index]

    def _update(self, change=None) -> None:
        snapshot = self.snapshots[self.step.value]
        self.image.value = self.frame()
        self.readout.value = (
            f"snapshot {self.step.value} of {len(self.snapshots) - 1}, training step {snapshot.step}"
            + (f": {snapshot.note}" if snapshot.note else "")
        )
