"""scripts/bench.py runs end to end (a few steps of each comparison) and writes its table."""
import json
import os
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DATA = os.environ.get("GENAI_DATA_DIR", "")


@pytest.mark.skipif(not (Path(DATA) / "mnist").is_dir() or not (Path(DATA) / "tinyshakespeare").is_dir(),
                    reason="needs MNIST and Tiny Shakespeare in GENAI_DATA_DIR (tests never download)")
def test_bench_smoke_run_writes_the_table(tmp_path, monkeypatch):
    out = tmp_path / "bench"
    monkeypatch.setattr(sys, "argv", ["bench.py", "--smoke", "--out", str(out)])
    runpy.run_path(str(ROOT / "scripts" / "bench.py"), run_name="__main__")
    report = json.loads(out.with_suffix(".json").read_text())
    [run] = report["runs"]
    assert run["smoke"] and set(run["benchmarks"]) == {"GPT vs nanoGPT", "VAE vs pytorch/examples",
                                                       "DCGAN loop vs pytorch/examples"}
    for b in run["benchmarks"].values():
        ratios = [r["ratio"] for r in b["results"].values()]
        assert min(ratios) > 0 and 1.0 in ratios  # the reference row has ratio 1
    md = out.with_suffix(".md").read_text()
    assert "| nanoGPT model.py, plain loop |" in md and "smoke run" in md
    # a second machine's run on the same page is kept; a run of the same kind is replaced
    report["runs"][0]["machine"] = "cuda (a GPU measured earlier)" + run["machine"][3:]
    out.with_suffix(".json").write_text(json.dumps(report))
    runpy.run_path(str(ROOT / "scripts" / "bench.py"), run_name="__main__")
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    assert [r["machine"].split(" ")[0] for r in runs] == ["cuda", "cpu"]
    assert "Not yet measured" not in out.with_suffix(".md").read_text()
