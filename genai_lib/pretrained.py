"""Pretrained checkpoints: small weight files made by ``scripts/pretrain.py`` and shipped with genai_lib.

Some models (a DCGAN that draws convincing digits) need more CPU time than a notebook's
quick profile has. Their notebooks still train live for a short run, then load the
weights that the committed script produced, with its log beside them in
``genai_lib/weights/``. Each file is verified against ``weights/SHA256SUMS`` before use.
Set ``GENAI_FROM_SCRATCH=1`` to train such models in the notebook instead.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import re
from pathlib import Path

import torch

from torch import nn

from .runtime import runtime
from .train import FORMAT, CheckpointError, History, _save_atomic, load_checkpoint, load_weights
from .validate import fail

WEIGHTS_DIR = Path(__file__).parent / "weights"
FROM_SCRATCH_ENV = "GENAI_FROM_SCRATCH"


def from_scratch() -> bool:
    """True when ``GENAI_FROM_SCRATCH`` asks notebooks to train instead of loading weights."""
    value = os.environ.get(FROM_SCRATCH_ENV, "").strip().lower()
    if value not in ("", "0", "1", "false", "true", "no", "yes"):
        raise ValueError(f"{FROM_SCRATCH_ENV}={value!r}: use 1 (train from scratch) or 0 (load pretrained weights)")
    return value in ("1", "true", "yes")


def checksums(directory: Path = WEIGHTS_DIR) -> dict[str, str]:
    """``file name -> SHA-256`` from ``SHA256SUMS`` (the ``sha256sum`` format)."""
    path = directory / "SHA256SUMS"
    if not path.exists():
        return {}
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {name.lstrip("*"): digest for digest, name in pairs}


def load_pretrained(model: nn.Module, name: str, directory: Path = WEIGHTS_DIR) -> History:
    """Load the pretrained weights ``name`` into ``model`` and return the run's history.

    The model must be built with the recipe's config (see ``genai_lib.presets``); the
    file must match its recorded checksum. Errors say what to do.
    """
    if not isinstance(name, str) or not name or "/" in name or name.endswith(".pt"):
        fail("name", "a recipe name such as 'ch04_dcgan' (no path, no .pt)", repr(name))
    path = Path(directory) / f"{name}.pt"
    expected = checksums(Path(directory)).get(path.name)
    if not path.exists() or expected is None:
        raise CheckpointError(
            f"no pretrained weights {path.name} in {directory} (or no checksum for them). Reinstall genai_lib, "
            f"run `python scripts/pretrain.py {name}`, or set {FROM_SCRATCH_ENV}=1 to train in the notebook.")
    if path.stat().st_size < 1024 and path.read_bytes().startswith(b"version https://git-lfs"):
        raise CheckpointError(f"{path} is a Git LFS pointer, not the weights: run `git lfs pull`.")
    return load_weights(model, path, sha256=expected)


def export_weights(checkpoint: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    """Write a checkpoint's model weights, configs and history (no optimizer state) to ``out``.

    The result loads with :func:`genai_lib.train.load_weights` and is a third of the size.
    ``out`` must not be the checkpoint itself, and an existing ``out`` is replaced only with
    ``overwrite=True`` (``scripts/pretrain.py`` replaces the shipped weights that way).
    """
    if Path(out).resolve() == Path(checkpoint).resolve():
        fail("out", "another file than the checkpoint", str(out),
             "Exporting in place would drop the training state: write the weights elsewhere")
    if Path(out).exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True to replace it, or choose another path")
    ckpt = load_checkpoint(checkpoint)
    slim = {k: ckpt[k] for k in ("format", "model_class", "model_config", "train_config", "step", "model", "history")}
    assert slim["format"] == FORMAT
    out = Path(out)
    _save_atomic(slim, out)
    return out



def write_measurement(name: str, made_by: str, results: dict, seconds: float, directory: Path = WEIGHTS_DIR,
                      **fields) -> Path:
    """Write a measurement too slow for a notebook (``scripts/sampler_study.py``, ``clipping_study.py``)
    to ``<directory>/<name>.json``, beside the weights it measured: the results, the command that made
    them, the date and the machine, so that a notebook can glue them and a reader can rerun them."""
    if not isinstance(name, str) or not name or "/" in name or name.endswith(".json"):
        fail("name", "a file name such as 'ch05_ddpm_samplers' (no path, no .json)", repr(name))
    if not isinstance(results, dict) or not results:
        fail("results", "a non-empty dict of results", repr(results)[:80])
    out = Path(directory) / f"{name}.json"
    text = json.dumps({
        "made_by": made_by, **fields, "date": datetime.date.today().isoformat(),
        "machine": f"{runtime().describe()}; {platform.machine()}, {torch.get_num_threads()} threads; "
                   f"torch {torch.__version__}, Python {platform.python_version()}",
        "seconds": round(seconds, 1), "results": results}, indent=1)
    out.write_text(_one_line_lists(text) + "\n")
    return out


def _one_line_lists(text: str) -> str:
    """JSON with each list of numbers on one line (per-sample results would take a line per number)."""
    return re.sub(r"\[\s+([-+0-9.eE,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
