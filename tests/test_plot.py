import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from genai_lib import plot
from genai_lib.train import History


def test_image_grid():
    fig = plot.image_grid(torch.rand(10, 1, 8, 8), nrow=5, labels=list(range(10)), title="t")
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.images]) == 10
    with pytest.raises(ValueError, match="single-channel"):
        plot.image_grid(torch.rand(2, 3, 8, 8))


def test_smooth_is_a_trailing_mean():
    assert np.allclose(plot.smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    assert np.allclose(plot.smooth([5, 6], 1), [5, 6])


def test_loss_curve_and_scatter():
    h = History(steps=[1, 2, 3], losses={"loss": [3.0, 2.0, 1.0]}, evals=[{"step": 3, "loss": 1.5}])
    fig = plot.loss_curve(h, logy=True)
    assert isinstance(fig, Figure) and fig.axes[0].get_yscale() == "log"
    assert len(fig.axes[0].lines) == 3  # raw, smoothed, eval points
    fig = plot.scatter_2d(torch.randn(20, 2), torch.arange(20) % 3, title="x")
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot.scatter_2d(torch.randn(5, 3))


def test_loss_curve_draws_every_evaluation_series():
    # A validation loss has its own name: it must be drawn even though no training loss matches it.
    h = History(steps=[1, 2, 3, 4], losses={"loss": [3.0, 2.0, 1.5, 1.0]},
                evals=[{"step": 2, "val_loss": 2.5}, {"step": 4, "val_loss": 1.8, "acc": 0.9}])
    lines = plot.loss_curve(h).axes[0].lines
    assert [ln.get_label() for ln in lines[2:]] == ["val_loss (eval)", "acc (eval)"]
    assert list(lines[2].get_xdata()) == [2, 4] and list(lines[2].get_ydata()) == [2.5, 1.8]
    only = plot.loss_curve(h, eval_keys=["val_loss"]).axes[0].lines
    assert [ln.get_label() for ln in only[2:]] == ["val_loss (eval)"]
    with pytest.raises(ValueError, match="no evaluation recorded 'missing'"):
        plot.loss_curve(h, eval_keys=["missing"])


def test_tile_lays_images_out_row_by_row():
    x = torch.zeros(3, 1, 2, 2)
    x[1] = 1.0
    grid = plot.tile(x, nrow=2, pad=1)
    assert grid.shape == (5, 5)
    assert grid[0:2, 3:5].min() == 1 and grid[0:2, 0:2].max() == 0 and grid[3:5, 3:5].max() == 0  # image 1 top right
    with pytest.raises(ValueError, match="single-channel"):
        plot.tile(torch.rand(2, 3, 4, 4))


def test_image_panels_has_one_titled_panel_per_entry():
    fig = plot.image_panels({"a": torch.rand(4, 1, 8, 8), "b": torch.rand(6, 1, 8, 8)}, nrow=2)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="non-empty dict"):
        plot.image_panels({})


def test_source_text_is_whole_and_can_shorten_docstrings():
    from genai_lib import utils
    from genai_lib.models.gan import gradient_penalty

    whole = utils.source_text(gradient_penalty)
    assert whole.startswith("def gradient_penalty(") and "WGAN-GP" in whole
    short = utils.source_text(gradient_penalty, docstrings=False)
    assert short.startswith("def gradient_penalty(") and '"""..."""' in short and "WGAN-GP" not in short
    assert "return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()" in short
    code = utils.show_source(gradient_penalty)
    assert "gradient_penalty" in code._repr_html_() or "gradient_penalty" in code.data


def test_course_style_applies_only_when_asked():
    import matplotlib.pyplot as plt
    with plt.style.context("default"):
        before = plt.rcParams["legend.fontsize"]
        plot.use_style()
        assert plot.STYLE.exists() and before == "medium" and plt.rcParams["legend.fontsize"] == 9
        assert plt.rcParams["axes.titlesize"] == 11


def test_image_rows_has_one_labelled_row_per_entry():
    fig = plot.image_rows({"original": torch.rand(5, 1, 8, 8), "edited": torch.rand(5, 1, 8, 8)}, title="t")
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["original", "edited"] and fig._suptitle.get_text() == "t"
    assert axes[0].images[0].get_array().shape == (8, 5 * 9 - 1)  # five images in one row, 1-pixel gaps
    with pytest.raises(ValueError, match="non-empty dict"):
        plot.image_rows({})


def test_config_text_wraps_a_config_within_the_width():
    from genai_lib import utils
    from genai_lib.models.gan import GANConfig

    cfg = GANConfig(arch="dc", z_dim=64, hidden=32)
    text = utils.config_text(cfg)
    assert repr(cfg).startswith(text.split("\n")[0].rstrip(",")[:20])
    assert max(map(len, text.splitlines())) <= 88 < len(repr(cfg)) and text.endswith(")")
    # the same fields and values as the repr, only wrapped
    assert " ".join(text.split()) == " ".join(repr(cfg).split())
    assert max(map(len, utils.config_text(cfg, width=40).splitlines())) <= 40


def test_scatter_2d_puts_the_legend_outside_or_nowhere():
    fig = plot.scatter_2d(torch.randn(30, 2), torch.arange(30) % 3)
    legend = fig.axes[0].get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 > fig.axes[0].bbox.x1 - 1
    fig = plot.scatter_2d(torch.randn(30, 2), torch.arange(30) % 3, legend=False)
    assert fig.axes[0].get_legend() is None


def test_fork_rng_restores_the_callers_stream_and_knows_which_devices_to_save():
    from genai_lib import utils

    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    with utils.fork_rng("cpu"):
        torch.manual_seed(123)
        torch.rand(10)
    assert torch.equal(torch.rand(3), expected)
    assert utils.rng_devices("cpu") == [] and utils.rng_devices(torch.device("cuda:1")) == [1]
