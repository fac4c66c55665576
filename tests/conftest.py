import matplotlib
import pytest

# Off-screen figures in this process only: an environment variable would leak into the
# notebook kernels that nbval starts, and their figures would never be drawn.
matplotlib.use("Agg")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No local data, an empty download cache, and a network that always fails."""
    import pooch

    def no_network(url, *args, **kwargs):
        raise ConnectionError(f"network disabled in tests ({url})")

    monkeypatch.delenv("GENAI_DATA_DIR", raising=False)
    monkeypatch.setenv("GENAI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pooch, "retrieve", no_network)
    return tmp_path


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state, whatever ran before it or in which order
    (an unseeded draw once made a tolerance test pass or fail with the global state)."""
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
