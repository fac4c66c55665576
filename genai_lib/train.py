"""Train: one explicit training loop for every model in the course.

The loop runs in a fixed order (STYLE.md rule 9): fetch a batch, run the model's
training step under autocast, in which each update is zero_grad -> backward -> unscale
-> clip -> step; then update the loss scaler, step the learning-rate schedules, record,
evaluate and checkpoint. A model with one optimizer needs nothing special: its
``forward`` returns the loss. A model with several (a GAN) writes its own
``training_step(batch, update)`` and calls ``update("d", loss_d)``, ``update("g", loss_g)``.

Checkpoints hold everything a run depends on (model, optimizers, schedules, loss scaler,
RNG states, the batch iterator's position, history, both configs), so resuming an
interrupted run gives the same result as never stopping: bit for bit on a CPU.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .validate import check_choice, check_int, check_number, fail, plain_fields

FORMAT = "genai_lib.checkpoint/1"
# TrainConfig fields that may differ when a run is resumed: they change what is logged
# or how often, not what is computed. ``steps`` may change only with a constant schedule:
# the cosine schedule's learning rate at every step depends on it (see ``resumable_changes``).
RESUMABLE_CHANGES = ("steps", "eval_every", "checkpoint_every", "log_every", "compile")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0  # max global gradient norm; None disables clipping
    warmup_steps: int = 0          # linear warm-up from 0 to lr
    schedule: str = "cosine"       # "cosine" (decay to min_lr_ratio * lr) or "constant"
    min_lr_ratio: float = 0.1
    eval_every: int = 0            # 0: evaluate only at the end
    checkpoint_every: int = 0      # 0: save only at the end (when a path is given)
    log_every: int = 10            # progress-bar refresh; losses are recorded every step
    compile: bool = False          # torch.compile the model's forward (GPU only pays off)

    def __post_init__(self):
        plain_fields(self)
        check_int(self.steps, "TrainConfig.steps", low=1)
        check_number(self.lr, "TrainConfig.lr", 0, low_open=True)
        check_number(self.weight_decay, "TrainConfig.weight_decay", 0)
        if len(self.betas) != 2:
            fail("TrainConfig.betas", "a pair (beta1, beta2)", repr(self.betas))
        for k, b in enumerate(self.betas):
            check_number(b, f"TrainConfig.betas[{k}]", 0, 1, high_open=True)
        if self.grad_clip is not None:
            # 0 would freeze training and a negative norm would flip the gradient's sign
            check_number(self.grad_clip, "TrainConfig.grad_clip", 0, low_open=True,
                         fix="Use None to turn gradient clipping off")
        check_int(self.warmup_steps, "TrainConfig.warmup_steps", low=0)
        check_choice(self.schedule, "TrainConfig.schedule", ("cosine", "constant"))
        check_number(self.min_lr_ratio, "TrainConfig.min_lr_ratio", 0, 1)
        check_int(self.eval_every, "TrainConfig.eval_every", low=0, fix="0 evaluates only at the end")
        check_int(self.checkpoint_every, "TrainConfig.checkpoint_every", low=0, fix="0 saves only at the end")
        check_int(self.log_every, "TrainConfig.log_every", low=1)
        if not isinstance(self.compile, bool):
            fail("TrainConfig.compile", "True or False", repr(self.compile), error=TypeError)

    def resumable_changes(self) -> tuple[str, ...]:
        """The fields a resumed run may change (``steps`` only with a constant schedule)."""
        if self.schedule == "constant":
            return RESUMABLE_CHANGES
        return tuple(k for k in RESUMABLE_CHANGES if k != "steps")


@dataclass
class History:
    """Losses per step and evaluation results, for plots; survives a resume."""

    steps: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    evals: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def last(self, name: str = "loss", n: int = 50) -> float:
        """Mean of the last ``n`` recorded values of a loss (less noisy than the last one)."""
        if name not in self.losses or not self.losses[name]:
            raise KeyError(f"no {name!r} values were recorded; recorded: {sorted(self.losses)}")
        check_int(n, "n", low=1)
        values = self.losses[name][-n:]
        return sum(values) / len(values)


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used here; the message says why and what to do."""


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Multiplier of ``cfg.lr`` at a step: linear warm-up, then cosine decay.

    $\\eta_t = \\eta\\,[r + (1-r)\\tfrac12(1+\\cos(\\pi\\,\\tfrac{t-w}{T-w}))]$ for
    $t \\ge w$, with $r$ = ``min_lr_ratio``, $w$ = ``warmup_steps``, $T$ = ``steps``.
    """
    if not isinstance(cfg, TrainConfig):
        fail("cfg", "a TrainConfig", type(cfg).__name__, error=TypeError)

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def default_optimizers(model: nn.Module, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    params = [p for p in model.parameters() if p.requires_grad]
    return {"model": torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)}


def default_training_step(model: nn.Module, batch: tuple, update: Callable) -> dict[str, torch.Tensor]:
    """One update for a model whose ``forward(*batch)`` returns a loss or ``(out, loss)``."""
    out = model(*batch)
    loss = out[-1] if isinstance(out, tuple) else out
    return {"loss": update("model", loss)}


class Updater:
    """``update(name, loss)``: one optimizer step on ``loss``, in the loop's fixed order."""

    def __init__(self, optimizers: dict, scaler: torch.amp.GradScaler, grad_clip: float | None,
                 device_type: str):
        self.optimizers, self.scaler, self.grad_clip = optimizers, scaler, grad_clip
        self.device_type = device_type
        self.steps_taken = 0  # optimizer steps in the current iteration

    def __call__(self, name: str, loss: torch.Tensor) -> torch.Tensor:
        if name not in self.optimizers:
            raise KeyError(f"no optimizer named {name!r}; the model configured {sorted(self.optimizers)}")
        if loss.dim() != 0:
            raise ValueError(f"the loss for {name!r} must be a scalar, got shape {tuple(loss.shape)}")
        opt = self.optimizers[name]
        # Zero first: another update (a GAN's G step) may have left gradients on these parameters.
        opt.zero_grad(set_to_none=True)
        with torch.autocast(self.device_type, enabled=False):  # backward runs outside autocast
            self.scaler.scale(loss).backward()
        if self.grad_clip is not None:
            self.scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
            params = [p for group in opt.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.scaler.step(opt)
        self.steps_taken += 1
        return loss.detach()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
             "numpy_pos": int(np.random.get_state()[2])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def model_identity(model: nn.Module) -> dict:
    """What a checkpoint must match: the model's class and its config dataclass."""
    cfg = getattr(model, "cfg", None)
    return {"model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "model_config": dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else None}


def _as_plain(value):
    """Tuples become lists so that configs compare equal after a save/load round trip."""
    if isinstance(value, dict):
        return {k: _as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_plain(v) for v in value]
    return value


def _differences(saved: dict | None, current: dict | None, ignore=()) -> list[str]:
    saved, current = _as_plain(saved or {}), _as_plain(current or {})
    keys = sorted((set(saved) | set(current)) - set(ignore))
    return [f"{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}"
            for k in keys if saved.get(k) != current.get(k)]


def load_checkpoint(path: str | Path, sha256: str | None = None) -> dict:
    """Read a checkpoint safely (``weights_only=True``: no code runs), with clear errors."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if sha256 is not None:
        from .data import sha256 as file_sha256

        got = file_sha256(path)
        if got != sha256:
            raise CheckpointError(f"{path} has SHA-256 {got}, expected {sha256}: the file is "
                                  f"corrupt or another version; fetch it again.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e}). "
                              f"It was left untouched; move it away to start afresh.") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a genai_lib checkpoint (format {FORMAT!r} expected).")
    return ckpt


def _with_defaults(saved: dict | None, model: nn.Module) -> dict | None:
    """A config field added to the library after a checkpoint was saved takes its default value,
    so older checkpoints stay loadable; a non-default value still counts as a difference."""
    cfg = getattr(model, "cfg", None)
    if saved is None or not dataclasses.is_dataclass(cfg):
        return saved
    filled = dict(saved)
    for f in dataclasses.fields(cfg):
        if f.name not in filled and f.default is not dataclasses.MISSING:
            filled[f.name] = f.default
    return filled


def check_compatible(ckpt: dict, model: nn.Module, path: str | Path) -> None:
    diffs = _differences({k: ckpt[k] for k in ("model_class",)}, {"model_class": model_identity(model)["model_class"]})
    diffs += _differences(_with_defaults(ckpt["model_config"], model), model_identity(model)["model_config"])
    if diffs:
        raise CheckpointError(
            f"{path} was saved from another model or config:\n  " + "\n  ".join(diffs) +
            "\nBuild the model with the checkpoint's config, or pass another checkpoint path "
            "(the file was left untouched).")


def load_weights(model: nn.Module, path: str | Path, sha256: str | None = None) -> History:
    """Load a checkpoint's weights into ``model`` (same class and config), e.g. a pretrained one."""
    ckpt = load_checkpoint(path, sha256)
    check_compatible(ckpt, model, path)
    model.load_state_dict(ckpt["model"])
    return History(**ckpt["history"])


def _save_atomic(obj: dict, path: Path) -> None:
    """Write to a temporary file, flush it to disk, read it back, then rename: a crash mid-save, a
    full disk, or a file that does not read back never replaces the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        torch.load(tmp, map_location="cpu", weights_only=True)
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"could not write a new checkpoint for {path} ({type(e).__name__}: {e}); "
                              f"the previous file was kept") from e
    os.replace(tmp, path)


def check_writable(directory: str | Path, what: str = "checkpoints") -> None:
    """Fail before a run, not after it, when ``directory`` cannot be created or written to."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise CheckpointError(f"cannot write {what} to {directory} ({type(e).__name__}: {e}); "
                              f"choose a writable directory") from None


def check_finite_weights(model: nn.Module, step: int) -> None:
    """Every parameter and buffer finite (e.g. BatchNorm statistics): a step with a finite loss can
    still write NaN weights (an infinite gradient), and those must never be saved, evaluated or
    returned as a result. One device sync; runs before each save and evaluation and at the end."""
    tensors = {k: t for k, t in model.state_dict().items() if t.is_floating_point()}
    if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors.values()]).all()):
        bad = [k for k, t in tensors.items() if not torch.isfinite(t).all()]
        raise FloatingPointError(
            f"non-finite weights after step {step} (in {', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}) "
            f"although the loss was finite: a gradient overflowed. Nothing was saved; the last checkpoint "
            f"is intact. Try a lower learning rate or gradient clipping, with another checkpoint path "
            f"(this one belongs to the current TrainConfig)")


def fit(model: nn.Module, batches, cfg: TrainConfig, *, amp_dtype: torch.dtype | None = None,
        evaluate: Callable[[nn.Module], dict] | None = None, checkpoint: str | Path | None = None,
        progress: bool = True) -> History:
    """Train ``model`` on ``batches`` for ``cfg.steps`` steps and return its history.

    With ``checkpoint``, a run resumes from that file if it exists (and returns at once if
    it is already finished), and saves to it every ``cfg.checkpoint_every`` steps and at the
    end. ``evaluate(model)`` returns a dict of metrics; it runs in eval mode without gradients
    every ``cfg.eval_every`` steps and at the end.
    """
    from tqdm.auto import tqdm

    if not isinstance(model, nn.Module):
        fail("model", "a torch.nn.Module", type(model).__name__, error=TypeError)
    if not isinstance(cfg, TrainConfig):
        fail("cfg", "a TrainConfig", type(cfg).__name__, error=TypeError)
    if not hasattr(batches, "__next__"):
        fail("batches", "an iterator of batches (e.g. genai_lib.data.Batches)", type(batches).__name__,
             "Wrap tensors with Batches(x, batch_size=...)", TypeError)
    if checkpoint is not None and not (hasattr(batches, "state_dict") and hasattr(batches, "load_state_dict")):
        fail("batches", "an iterator with state_dict() and load_state_dict() when checkpoint is given (a "
             "checkpoint records where the data stream stands)", type(batches).__name__,
             "Use genai_lib.data.Batches or TextBatches, or pass checkpoint=None", TypeError)
    if next(model.parameters(), None) is None:
        fail("model", "a module with parameters", "a module without any")
    device = next(model.parameters()).device
    optimizers = (model.configure_optimizers(cfg) if hasattr(model, "configure_optimizers")
                  else default_optimizers(model, cfg))
    schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(cfg)) for k, o in optimizers.items()}
    scaler = torch.amp.GradScaler(device.type, enabled=(amp_dtype == torch.float16))
    history, step = History(), 0
    train_config = dataclasses.asdict(cfg)

    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None:
        if path.is_dir():
            fail("checkpoint", "a file path, e.g. checkpoints/run.pt", f"the directory {path}")
        check_writable(path.parent)  # now, not after the whole run
    if path is not None and path.exists():
        ckpt = load_checkpoint(path)
        check_compatible(ckpt, model, path)
        if "optimizers" not in ckpt:
            raise CheckpointError(
                f"{path} holds model weights only (a pretrained or exported file), not a training state, "
                f"so a run cannot resume from it. To fine-tune from it: load_weights(model, path) (or "
                f"genai_lib.pretrained.load_pretrained), then call fit with another checkpoint path. "
                f"The file was left untouched.")
        diffs = _differences(ckpt["train_config"], train_config, ignore=cfg.resumable_changes())
        if diffs:
            why = ("\nWith schedule='cosine' the learning rate at every step depends on steps, so a finished "
                   "run cannot be extended: start from its weights (load_weights) with another checkpoint path, "
                   "or use schedule='constant'." if any(d.startswith("steps:") for d in diffs) else "")
            raise CheckpointError(f"{path} was trained with another TrainConfig:\n  " + "\n  ".join(diffs) + why +
                                  "\nUse the same config to resume, or another checkpoint path (the file was "
                                  "left untouched).")
        try:
            batches.load_state_dict(ckpt["batches"])
        except ValueError as e:
            raise CheckpointError(f"{path} was trained on other batches: {e}. Resume with the same data, "
                                  f"batch size and seed, or use another checkpoint path (the file was "
                                  f"left untouched).") from None
        model.load_state_dict(ckpt["model"])
        for k, o in optimizers.items():
            o.load_state_dict(ckpt["optimizers"][k])
            schedulers[k].load_state_dict(ckpt["schedulers"][k])
        scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        history, step = History(**ckpt["history"]), ckpt["step"]

    def save() -> None:
        check_finite_weights(model, step)
        _save_atomic({"format": FORMAT, **model_identity(model), "train_config": train_config,
                      "step": step, "model": model.state_dict(),
                      "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                      "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
                      "scaler": scaler.state_dict(), "batches": batches.state_dict(),
                      "rng": _rng_state(), "history": dataclasses.asdict(history)}, path)

    def run_eval() -> None:
        check_finite_weights(model, step)
        model.eval()
        with torch.no_grad():
            metrics = evaluate(model)
        model.train()
        history.evals.append({"step": step, **{k: float(v) for k, v in metrics.items()}})

    if step >= cfg.steps:  # a finished run: nothing to do
        model.eval()
        return history
    if cfg.compile:
        model.compile()
    step_fn = getattr(model, "training_step", None)
    update = Updater(optimizers, scaler, cfg.grad_clip, device.type)
    pending: list[tuple[int, dict]] = []  # detached losses, turned into floats in bulk (no GPU sync per step)

    def flush() -> None:
        for s, losses in pending:
            history.steps.append(s)
            for k, v in losses.items():
                v = float(v)
                if not math.isfinite(v):
                    raise FloatingPointError(f"the {k!r} loss is {v} at step {s}: training diverged "
                                             f"(try a lower learning rate or gradient clipping)")
                history.losses.setdefault(k, []).append(v)
        pending.clear()

    model.train()
    # mininterval: at most two refreshes a second, so a fast loop cannot flood a notebook's output channel
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc="training", mininterval=0.5)
    t0 = time.perf_counter()
    try:
        while step < cfg.steps:
            batch = next(batches)
            update.steps_taken = 0
            with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                losses = step_fn(batch, update) if step_fn else default_training_step(model, batch, update)
            if update.steps_taken:  # a step may skip every update (e.g. a GAN's schedule); the scaler then waits
                scaler.update()
            for s in schedulers.values():
                s.step()
            step += 1
            pending.append((step, losses))
            bar.update(1)
            last = step == cfg.steps
            if step % cfg.log_every == 0 or last:
                flush()
                bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in history.losses.items()}, refresh=False)
            if evaluate is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or last):
                flush()
                try:
                    run_eval()
                except Exception:
                    if path is not None and not isinstance(sys.exc_info()[1], FloatingPointError):
                        save()  # an evaluation that fails must not cost the training it evaluates
                    raise
            if path is not None and ((cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or last):
                flush()
                history.seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                save()
    finally:
        bar.close()
    flush()
    check_finite_weights(model, step)
    history.seconds += time.perf_counter() - t0
    model.eval()
    return history
