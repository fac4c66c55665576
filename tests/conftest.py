import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


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
