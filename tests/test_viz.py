import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import train, viz  # noqa: E402


def test_image_grid_places_every_image():
    x = torch.arange(5).float().view(5, 1, 1, 1).expand(5, 1, 2, 3) / 4
    grid = viz.image_grid(x, nrow=3, pad=1)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1)
    assert grid[1, 1] == 0.0 and grid[1, 5] == 0.25 and grid[4, 5] == 1.0
    assert grid[4, 9] == 1.0  # the empty sixth slot is padding


def test_image_grid_colour_and_errors():
    assert viz.image_grid(torch.rand(4, 3, 5, 5), nrow=2).shape == (13, 13, 3)
    assert viz.image_grid(np.full((2, 4, 4), 2.0)).max() == 1.0  # clipped
    with pytest.raises(ValueError, match="N x C x H x W"):
        viz.image_grid(torch.rand(5, 5))


def _labelled(fig):
    ax = fig.axes[0]
    return ax.get_title() != "" and (ax.get_xlabel() != "" or not ax.get_xticks().size)


def test_every_plot_has_a_title_and_labels():
    history = train.History(step={"loss": [3.0, 2.0, 1.5, 1.0]}, epoch={"loss": [2.5, 1.25]})
    figures = [
        viz.show_images(torch.rand(10, 1, 8, 8), "digits", labels=list(range(10))),
        viz.show_rows({"a": torch.rand(4, 1, 8, 8), "b": torch.rand(4, 1, 8, 8)}, "rows"),
        viz.plot_losses(history),
        viz.plot_curves([1, 2, 5], {"x": [1, 2, 3]}, "curve", "k", "error", logx=True),
        viz.latent_scatter(torch.randn(30, 2), torch.arange(30) % 3, "codes"),
    ]
    for fig in figures:
        assert _labelled(fig)
    assert figures[2].axes[0].get_ylabel() == "loss"
    assert [t.get_text() for t in figures[3].axes[0].get_xticklabels()] == ["1", "2", "5"]
    plt.close("all")


def test_latent_scatter_wants_2d_codes_and_png_bytes():
    with pytest.raises(ValueError, match="2D codes"):
        viz.latent_scatter(torch.randn(5, 3), torch.zeros(5))
    png = viz.figure_png(viz.show_images(torch.rand(2, 1, 4, 4), "two"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close("all")
