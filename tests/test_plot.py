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
