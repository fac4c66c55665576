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
