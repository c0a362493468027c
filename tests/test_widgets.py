import math

import numpy as np
import pytest
import torch

from course_utils import widgets


def decode(z):
    """A toy decoder: image pixel (i, j) = sigmoid(z0 * i/8 + z1 * j/8)."""
    i = torch.arange(8.0).view(1, 1, 8, 1) / 8
    j = torch.arange(8.0).view(1, 1, 1, 8) / 8
    return torch.sigmoid(z[:, 0].view(-1, 1, 1, 1) * i + z[:, 1].view(-1, 1, 1, 1) * j)


def test_to_png_enlarges():
    import io

    from PIL import Image

    png = widgets.to_png(np.eye(8), scale=4)
    image = Image.open(io.BytesIO(png))
    assert image.size == (32, 32) and png[:4] == b"\x89PNG"


def test_perturb_changes_one_coordinate_only():
    z = torch.tensor([1.0, 2.0, 3.0])
    out = widgets.perturb(z, 1, -5.0)
    assert out.tolist() == [1.0, -5.0, 3.0] and z.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(IndexError, match="dimension 3"):
        widgets.perturb(z, 3, 0.0)


def test_lerp_and_slerp_endpoints_and_norms():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    for fn in (widgets.lerp, widgets.slerp):
        assert torch.allclose(fn(z0, z1, 0.0), z0, atol=1e-5) and torch.allclose(fn(z0, z1, 1.0), z1, atol=1e-5)
    middle = widgets.slerp(z0, z1, 0.5)
    assert torch.allclose(middle, torch.tensor([3 / math.sqrt(2)] * 2), atol=1e-5)  # on the circle of radius 3
    assert widgets.lerp(z0, z1, 0.5).norm() < 2.2
    # parallel codes fall back to the straight line
    assert torch.allclose(widgets.slerp(z0, 2 * z0, 0.5), 1.5 * z0)
    path = widgets.interpolation_path(z0, z1, 5, "spherical")
    assert path.shape == (5, 2) and torch.allclose(path.norm(dim=1), torch.full((5,), 3.0), atol=1e-5)
    with pytest.raises(ValueError, match="linear"):
        widgets.interpolation_path(z0, z1, 5, "cubic")


def test_frames_follow_their_parameters():
    z = torch.tensor([0.5, -0.5])
    a = widgets.perturbation_frame(decode, z, 0, 2.0)
    b = widgets.perturbation_frame(decode, z, 0, -2.0)
    assert a.shape == (8, 8) and not np.allclose(a, b)
    assert np.allclose(a, decode(torch.tensor([[2.0, -0.5]]))[0, 0].numpy())
    frame = widgets.interpolation_frame(decode, torch.tensor([-3.0, 0.0]), torch.tensor([0.0, 3.0]), 0.3, steps=5)
    assert frame.ndim == 2 and frame.shape[0] == 2 * 10 + 4


def test_perturbation_widget_updates_image_bytes_when_the_slider_moves():
    codes = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    view = widgets.LatentPerturbation(decode, codes, images=decode(codes), labels=list("abcde"))
    first = view.image.value
    assert first[:4] == b"\x89PNG" and view.original.value[:4] == b"\x89PNG"
    view.value.value = 2.5
    assert view.image.value != first and "+2.50" in view.readout.value
    moved = view.image.value
    view.dim.value = 1
    assert view.value.value == pytest.approx(float(codes[0, 1]), abs=0.05)
    view.index.value = 3
    assert "image 3 (label d)" in view.readout.value and view.image.value != moved


def test_interpolation_widget_updates_image_bytes_when_t_moves():
    codes = torch.tensor([[-3.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    view = widgets.Interpolation(decode, codes, steps=5)
    first = view.image.value
    view.t.value = 0.9
    assert view.image.value != first and "t = 0.90" in view.readout.value
    view.end.value = 2
    assert "ends 3.00, 2.83" in view.readout.value


def test_slider_moves_never_rebuild_the_view():
    codes = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
    view = widgets.LatentPerturbation(decode, codes)
    before = [id(c) for c in view.widget.children]
    image = view.image
    for value in (-1.0, 0.0, 1.0):
        view.value.value = value
    assert [id(c) for c in view.widget.children] == before and view.image is image


def _snapshots(n=4):
    g = torch.Generator().manual_seed(0)
    grid = widgets.field_grid((-2, 2, -2, 2), resolution=20)
    out = []
    for k in range(n):
        centre = torch.tensor([math.cos(k), math.sin(k)])
        field = torch.sigmoid(-((grid - centre) ** 2).sum(1)).view(20, 20)
        out.append(
            widgets.Snapshot(
                step=100 * k, samples=centre + 0.1 * torch.randn(50, 2, generator=g), field=field, note=f"modes {k}/8"
            )
        )
    return out


def test_field_grid_rows_are_y():
    grid = widgets.field_grid((-1, 1, -2, 2), resolution=3)
    assert grid.shape == (9, 2)
    assert grid[:3, 1].tolist() == [-2, -2, -2] and grid[:3, 0].tolist() == [-1, 0, 1]


def test_explorer_frame_changes_with_the_step_slider():
    snapshots = _snapshots()
    explorer = widgets.ModeCollapseExplorer(snapshots, torch.randn(100, 2), (-2, 2, -2, 2), title="toy GAN")
    frames = [explorer.frame(k) for k in range(4)]
    assert len(set(frames)) == 4 and all(f[:4] == b"\x89PNG" for f in frames)
    first = explorer.image.value
    explorer.step.value = 2
    assert explorer.image.value != first and explorer.image.value == frames[2]
    assert explorer.readout.value == "snapshot 2 of 3, training step 200: modes 2/8"
    assert explorer.frame(2) == frames[2]  # the same snapshot always draws the same picture


def test_explorer_handles_critics_and_missing_fields():
    snapshots = _snapshots(2)
    snapshots[0].field = snapshots[0].field * 10 - 3  # an unbounded critic
    snapshots[1].field = None
    plot = widgets.SnapshotPlot(torch.randn(10, 2), (-2, 2, -2, 2), "critic", field_label="f(x)")
    assert plot.render(snapshots[0]) != plot.render(snapshots[1])
    assert plot.background.get_clim()[0] < 0 or not plot.background.get_visible()
    plot.close()
    with pytest.raises(ValueError, match="no snapshots"):
        widgets.ModeCollapseExplorer([], torch.randn(3, 2), (-1, 1, -1, 1))


def _first_number(text: str) -> float:
    import re

    return float(re.search(r"[-+]?\d+(?:\.\d+)?", text).group())


def test_every_view_is_marked_for_the_browser_and_reads_out_its_main_slider_first():
    """The browser tests and the dashboard find a view by its CSS classes, and wait for the
    readout's first number to equal the main slider's value (the sign that the new image was sent)."""
    codes = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    views = {
        "latent-perturbation": (widgets.LatentPerturbation(decode, codes), "value", -1.35),
        "interpolation": (widgets.Interpolation(decode, codes), "t", 0.34),
        "mode-collapse-explorer": (
            widgets.ModeCollapseExplorer(_snapshots(), torch.randn(50, 2), (-2, 2, -2, 2)),
            "step",
            3,
        ),
    }
    for kind, (view, slider_name, value) in views.items():
        slider = getattr(view, slider_name)
        assert {"course-widget", f"course-widget-{kind}"} <= set(view.widget._dom_classes)
        assert "course-main-slider" in slider._dom_classes
        assert "course-widget-image" in view.image._dom_classes
        assert "course-widget-readout" in view.readout._dom_classes
        slider.value = value
        assert _first_number(view.readout.value) == pytest.approx(value), view.readout.value


def test_explorer_draws_every_frame_up_front_unless_asked_not_to():
    snapshots, data_points = _snapshots(), torch.randn(50, 2)
    eager = widgets.ModeCollapseExplorer(snapshots, data_points, (-2, 2, -2, 2))
    assert sorted(eager._frames) == list(range(len(snapshots)))
    lazy = widgets.ModeCollapseExplorer(snapshots, data_points, (-2, 2, -2, 2), prerender=False)
    assert sorted(lazy._frames) == [0]  # the first frame, shown at once
    assert eager.frame(2) == lazy.frame(2)


class _DeviceSpy(torch.nn.Module):
    """A decoder that records the device its codes arrive on (its weights report the 'meta' device)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))
        self.seen = []

    def mean_image(self, z):
        self.seen.append(z.device)
        return torch.zeros(len(z), 1, 2, 2)


def test_codes_follow_the_model_of_a_bound_method_to_its_device():
    """On a GPU the codes must reach the decoder's device, also through a bound method such as vae.mean_image."""
    spy = _DeviceSpy().to("meta")
    widgets.decode_images(spy.mean_image, torch.zeros(3, 2))
    assert spy.seen == [torch.device("meta")]
    assert widgets.model_device(spy) == torch.device("meta") and widgets.model_device(lambda z: z) is None
