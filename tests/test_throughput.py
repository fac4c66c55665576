"""scripts/throughput.py runs end to end (a smoke run: one round of tiny batches) and writes its
flat table; cost_per_1000 on a hand-computed value."""
import json
import math
import runpy
from pathlib import Path

import pytest
import torch

from genai_lib import presets
from genai_lib.models.gpt import GPT
from genai_lib.utils import count_parameters

ROOT = Path(__file__).parents[1]
SCRIPT = runpy.run_path(str(ROOT / "scripts" / "throughput.py"))  # its functions; main() does not run
ROWS = {"gpt_quick_b1", "gpt_quick_b64", "gpt_full_b1", "gpt_full_b64", "char_rnn_b1", "char_rnn_b64",
        "vae_mlp", "vae_conv", "vqvae", "dcgan", "ddpm_ddim25_guided", "ddpm_ddim25_no_label", "realnvp"}
KEYS = {"params", "weights_mb", "train_per_s", "train_unit", "batch", "sample_per_s", "sample_unit", "sampler",
        "sample_batch", "config", "rounds"}


def test_throughput_smoke_run_writes_the_table(tmp_path):
    SCRIPT["main"](["--smoke", "--out-dir", str(tmp_path)])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    report = json.loads((tmp_path / f"throughput_{device}.json").read_text())
    assert report["smoke"] and report["rounds"] == 1 and "--smoke" in report["made_by"]
    results = report["results"]
    expected = ROWS | ({SCRIPT["DDPM_ROW"]} if device == "cuda" else set())
    assert set(results) == expected
    if device == "cpu":
        assert set(report["skipped"]) == {SCRIPT["DDPM_ROW"]}  # said so in the JSON, not silently left out
    for name, row in results.items():
        assert set(row) == KEYS, name
        for key in ("params", "batch", "sample_batch", "rounds"):
            assert isinstance(row[key], int) and row[key] > 0, (name, key)
        for key in ("weights_mb", "train_per_s", "sample_per_s"):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key)
        assert {row["train_unit"], row["sample_unit"]} <= {"images", "tokens", "points"}
        assert row["weights_mb"] == pytest.approx(4 * row["params"] / 1e6, abs=1e-3)
    # the exact course sizes, also in a smoke run (only the batches shrink)
    assert results["gpt_quick_b1"]["params"] == count_parameters(GPT(presets.SHAKESPEARE_GPT["quick"]["gpt"]))
    assert results["gpt_full_b64"]["params"] == count_parameters(GPT(presets.SHAKESPEARE_GPT["full"]["gpt"]))
    assert results["dcgan"]["params"] == count_parameters(presets.build_pretrained("ch04_dcgan"))
    assert results["ddpm_ddim25_guided"]["params"] == count_parameters(presets.build_pretrained("ch05_ddpm"))


def test_smoke_run_refuses_to_overwrite_the_committed_measurement():
    with pytest.raises(SystemExit):
        SCRIPT["main"](["--smoke"])


def test_cost_per_1000_by_hand():
    cost = SCRIPT["cost_per_1000"]
    # 100 samples/s: 1,000 samples take 10 s; at $3.60 an hour ($0.001 a second) that is $0.01
    assert cost(100.0, 3.6) == pytest.approx(0.01)
    # 2 samples/s at $2.50 an hour: 500 s x $2.50 / 3600 s = $0.347222...
    assert cost(2.0, 2.5) == pytest.approx(0.3472222222)
    assert cost(5.0, 0.0) == 0.0  # a free machine
    with pytest.raises(ValueError):
        cost(0.0, 1.0)  # no throughput: no finite cost
    with pytest.raises(ValueError):
        cost(1.0, -1.0)
