import pytest
import torch

from genai_lib import pretrained
from genai_lib.data import Batches, sha256
from genai_lib.models.gan import GAN, GANConfig
from genai_lib.presets import PRETRAINED_RECIPES, build_pretrained
from genai_lib.train import CheckpointError, TrainConfig, fit


def test_from_scratch_reads_the_environment(monkeypatch):
    monkeypatch.delenv("GENAI_FROM_SCRATCH", raising=False)
    assert pretrained.from_scratch() is False
    monkeypatch.setenv("GENAI_FROM_SCRATCH", "1")
    assert pretrained.from_scratch() is True
    monkeypatch.setenv("GENAI_FROM_SCRATCH", "maybe")
    with pytest.raises(ValueError, match="GENAI_FROM_SCRATCH"):
        pretrained.from_scratch()


def small_run(tmp_path):
    torch.manual_seed(0)
    model = GAN(GANConfig(arch="mlp", z_dim=2, hidden=8, n_layers=1))
    fit(model, Batches(torch.randn(64, 2), batch_size=16, seed=0), TrainConfig(steps=2, grad_clip=None),
        checkpoint=tmp_path / "run.pt", progress=False)
    return model


def test_export_then_load_roundtrip_with_checksum(tmp_path):
    model = small_run(tmp_path)
    out = pretrained.export_weights(tmp_path / "run.pt", tmp_path / "toy.pt")
    assert out.stat().st_size < (tmp_path / "run.pt").stat().st_size  # no optimizer state
    (tmp_path / "SHA256SUMS").write_text(f"{sha256(out)}  toy.pt\n")
    assert pretrained.checksums(tmp_path) == {"toy.pt": sha256(out)}
    fresh = GAN(GANConfig(arch="mlp", z_dim=2, hidden=8, n_layers=1))
    history = pretrained.load_pretrained(fresh, "toy", directory=tmp_path)
    assert history.steps == [1, 2]
    for k, v in model.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k])
    other = GAN(GANConfig(arch="mlp", z_dim=2, hidden=16, n_layers=1))
    with pytest.raises(CheckpointError, match="hidden"):
        pretrained.load_pretrained(other, "toy", directory=tmp_path)


def test_corrupt_missing_and_lfs_files_are_clear_errors(tmp_path):
    small_run(tmp_path)
    out = pretrained.export_weights(tmp_path / "run.pt", tmp_path / "toy.pt")
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  toy.pt\n")
    model = GAN(GANConfig(arch="mlp", z_dim=2, hidden=8, n_layers=1))
    with pytest.raises(CheckpointError, match="SHA-256"):
        pretrained.load_pretrained(model, "toy", directory=tmp_path)
    with pytest.raises(CheckpointError, match="GENAI_FROM_SCRATCH=1"):
        pretrained.load_pretrained(model, "missing", directory=tmp_path)
    out.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    (tmp_path / "SHA256SUMS").write_text(f"{sha256(out)}  toy.pt\n")
    with pytest.raises(CheckpointError, match="git lfs pull"):
        pretrained.load_pretrained(model, "toy", directory=tmp_path)


@pytest.mark.parametrize("name", sorted(PRETRAINED_RECIPES))
def test_shipped_weights_match_their_recipe_and_checksum(name):
    """The files in genai_lib/weights load into the recipe's model and have a log beside them."""
    model = build_pretrained(name)
    history = pretrained.load_pretrained(model, name)
    assert history.evals and (pretrained.WEIGHTS_DIR / f"{name}.log").exists()
    assert (pretrained.WEIGHTS_DIR / f"{name}.pt").stat().st_size < 10e6


def test_write_measurement_records_results_with_their_provenance(tmp_path):
    import json

    from genai_lib import pretrained

    out = pretrained.write_measurement("study", "python scripts/x.py --n 3", {"a": {"rate": 0.5}}, 12.34,
                                       directory=tmp_path, n=3, noise_seed=5)
    saved = json.loads(out.read_text())
    assert out == tmp_path / "study.json"
    assert list(saved)[:3] == ["made_by", "n", "noise_seed"] and saved["results"] == {"a": {"rate": 0.5}}
    assert saved["seconds"] == 12.3 and "torch" in saved["machine"] and len(saved["date"]) == 10


def test_write_measurement_puts_per_sample_lists_on_one_line(tmp_path):
    import json

    from genai_lib import pretrained

    results = {"a": {"flags": [1, 0, 1, 1], "values": [-1.5, 2e-3], "name": "x"}}
    out = pretrained.write_measurement("study", "cmd", results, 1.0, directory=tmp_path)
    text = out.read_text()
    assert '"flags": [1, 0, 1, 1]' in text and '"values": [-1.5, 0.002]' in text
    assert json.loads(text)["results"] == results
