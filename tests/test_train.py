import json
import os
import re
from dataclasses import dataclass, replace

import pytest
import torch
from torch import nn

from genai_lib.data import Batches
from genai_lib.train import CheckpointError, History, TrainConfig, fit, load_weights, lr_lambda


@dataclass(frozen=True)
class TinyConfig:
    hidden: int = 16
    dropout: float = 0.1


class Tiny(nn.Module):
    """A small regressor with dropout, so that resuming must restore the RNG too."""

    def __init__(self, cfg: TinyConfig = TinyConfig()):
        super().__init__()
        self.cfg = cfg
        self.net = nn.Sequential(nn.Linear(2, cfg.hidden), nn.Tanh(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 1))

    def forward(self, x, y):
        pred = self.net(x)
        return pred, ((pred.squeeze(-1) - y) ** 2).mean()


def problem(seed=0, n=256):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = torch.sin(x[:, 0]) + 0.5 * x[:, 1]
    return x, y


def run(cfg, checkpoint=None, evaluate=None, model_cfg=TinyConfig()):
    torch.manual_seed(0)
    model = Tiny(model_cfg)
    x, y = problem()
    history = fit(model, Batches(x, y, batch_size=32, seed=1), cfg, checkpoint=checkpoint,
                  evaluate=evaluate, progress=False)
    return model, history


CFG = TrainConfig(steps=40, lr=1e-2, warmup_steps=5, checkpoint_every=10, log_every=5)


def test_training_lowers_the_loss():
    x, y = problem()
    model, history = run(replace(CFG, steps=150))
    first, last = sum(history.losses["loss"][:10]) / 10, history.last("loss", 10)
    assert last < 0.3 * first
    assert history.steps == list(range(1, 151)) and model.training is False


def test_resume_equals_uninterrupted_run_bit_for_bit(tmp_path):
    full, h_full = run(CFG)

    class Crash(Exception):
        pass

    def crash_on_third_eval(model):
        if crash_on_third_eval.calls == 2:
            raise Crash
        crash_on_third_eval.calls += 1
        return {}

    crash_on_third_eval.calls = 0
    path = tmp_path / "run.pt"
    cfg = replace(CFG, eval_every=12)  # evaluations at 12 and 24 pass; the run crashes at step 36
    with pytest.raises(Crash):
        run(cfg, checkpoint=path, evaluate=crash_on_third_eval)
    assert path.exists()  # the checkpoint of step 30 survived the crash
    resumed, h_resumed = run(cfg, checkpoint=path, evaluate=lambda m: {})
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert h_resumed.losses["loss"] == h_full.losses["loss"]
    assert h_resumed.steps == list(range(1, 41))


def test_finished_checkpoint_loads_without_training(tmp_path):
    path = tmp_path / "done.pt"
    trained, _ = run(CFG, checkpoint=path)
    torch.manual_seed(123)  # a different init: loading must overwrite it
    model = Tiny()
    history = fit(model, Batches(*problem(), batch_size=32, seed=1), CFG, checkpoint=path, progress=False)
    assert len(history.steps) == CFG.steps
    for a, b in zip(trained.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_from_another_model_config_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    run(CFG, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="hidden: checkpoint 16, now 32"):
        run(CFG, checkpoint=path, model_cfg=TinyConfig(hidden=32))
    with pytest.raises(CheckpointError, match="(?s)another TrainConfig.*lr: checkpoint 0.01, now 0.001"):
        run(replace(CFG, lr=1e-3), checkpoint=path)
    assert path.read_bytes() == before  # the user's checkpoint is never touched


def test_checkpoint_of_another_class_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    run(CFG, checkpoint=path)
    other = nn.Linear(2, 1)
    with pytest.raises(CheckpointError, match="model_class"):
        load_weights(other, path)


def test_corrupt_checkpoint_is_a_clear_error_and_kept(tmp_path):
    path = tmp_path / "run.pt"
    run(CFG, checkpoint=path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="(?s)not a readable checkpoint.*untouched"):
        run(CFG, checkpoint=path)
    assert path.stat().st_size == 100


def test_load_weights_checks_sha256(tmp_path):
    path = tmp_path / "run.pt"
    trained, _ = run(CFG, checkpoint=path)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_weights(Tiny(), path, sha256="0" * 64)
    from genai_lib.data import sha256
    model = Tiny()
    history = load_weights(model, path, sha256=sha256(path))
    assert isinstance(history, History) and len(history.steps) == CFG.steps
    assert torch.equal(model.net[0].weight, trained.net[0].weight)


def test_lr_schedule_warmup_then_cosine():
    f = lr_lambda(TrainConfig(steps=110, warmup_steps=10, min_lr_ratio=0.1))
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1)
    assert lr_lambda(TrainConfig(schedule="constant"))(500) == 1.0
    with pytest.raises(ValueError, match="schedule"):
        lr_lambda(TrainConfig(schedule="linear"))


class TwoPlayers(nn.Module):
    """Two optimizers and a custom step, as a GAN has: the loop needs no special case."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(3.0)), nn.Parameter(torch.tensor(-2.0))

    def configure_optimizers(self, cfg):
        return {"a": torch.optim.SGD([self.a], lr=0.1), "b": torch.optim.SGD([self.b], lr=0.1)}

    def training_step(self, batch, update):
        loss_a = update("a", (self.a - 1) ** 2 + 0 * self.b)  # touches b's gradient too
        loss_b = update("b", (self.b + 1) ** 2)
        return {"loss_a": loss_a, "loss_b": loss_b}


def test_multiple_optimizers_and_custom_step():
    model = TwoPlayers()
    cfg = TrainConfig(steps=100, schedule="constant", grad_clip=None)
    history = fit(model, Batches(torch.zeros(4), batch_size=2), cfg, progress=False)
    assert model.a.item() == pytest.approx(1.0, abs=1e-4) and model.b.item() == pytest.approx(-1.0, abs=1e-4)
    assert set(history.losses) == {"loss_a", "loss_b"}


def test_divergence_and_non_scalar_losses_are_reported():
    class Bad(nn.Module):
        def __init__(self, loss):
            super().__init__()
            self.w, self.loss = nn.Parameter(torch.ones(2)), loss

        def forward(self, x):
            return self.loss(self.w)

    batches = Batches(torch.zeros(4), batch_size=2)
    with pytest.raises(FloatingPointError, match="diverged"):
        fit(Bad(lambda w: (w * float("inf")).sum()), batches, TrainConfig(steps=3), progress=False)
    with pytest.raises(ValueError, match="scalar"):
        fit(Bad(lambda w: w * 2), batches, TrainConfig(steps=3), progress=False)


# PyTorch warns when a schedule steps before any optimizer step, which is what a skipped update is.
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_float16_loss_scaling_and_iterations_without_an_update():
    """fp16 autocast with a GradScaler (on the CPU here), and a step that sometimes updates nothing."""

    class Sometimes(TwoPlayers):
        def training_step(self, batch, update):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls % 2:  # odd iterations skip both updates
                return {}
            return super().training_step(batch, update)

    model = Sometimes()
    cfg = TrainConfig(steps=200, schedule="constant", grad_clip=1.0)
    fit(model, Batches(torch.zeros(4), batch_size=2), cfg, amp_dtype=torch.float16, progress=False)
    assert model.a.item() == pytest.approx(1.0, abs=1e-2) and model.b.item() == pytest.approx(-1.0, abs=1e-2)


def test_config_field_added_later_takes_its_default(tmp_path):
    """A checkpoint saved before a config field existed loads if the field has its default value."""
    path = tmp_path / "run.pt"
    model, _ = run(CFG, checkpoint=path)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["model_config"]["dropout"]  # as if saved by an older library without this field
    torch.save(ckpt, path)
    fresh = Tiny(TinyConfig())
    load_weights(fresh, path)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))
    with pytest.raises(CheckpointError, match="dropout: checkpoint 0.1, now 0.5"):
        load_weights(Tiny(TinyConfig(dropout=0.5)), path)


# --- Nothing is ever lost, and a resume never silently changes the run ---------------------------


class NaNGradAt(nn.Module):
    """A finite loss whose gradient becomes NaN at one step (the issue's repro):
    d/dw sqrt(|w - w|) is inf * 0 = NaN, while the loss itself stays finite."""

    def __init__(self, bad_step: int):
        super().__init__()
        self.cfg = TinyConfig()
        self.w = nn.Parameter(torch.ones(3))
        self.bad_step, self.calls = bad_step, 0

    def forward(self, x):
        self.calls += 1
        loss = ((self.w - 2) ** 2).sum()
        if self.calls == self.bad_step:
            loss = loss + (self.w[0] - self.w[0]).abs().sqrt()
        return loss


def test_nan_weights_never_overwrite_a_good_checkpoint(tmp_path):
    path = tmp_path / "run.pt"
    cfg = TrainConfig(steps=20, lr=0.1, checkpoint_every=5, log_every=5, grad_clip=None)
    with pytest.raises(FloatingPointError, match="non-finite weights after step 10.*last checkpoint is intact"):
        fit(NaNGradAt(bad_step=10), Batches(torch.zeros(4), batch_size=2), cfg, checkpoint=path, progress=False)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["step"] == 5 and torch.isfinite(ckpt["model"]["w"]).all()
    assert not (tmp_path / "run.pt.tmp").exists()


def test_checkpoints_are_checked_writable_before_training(tmp_path):
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    calls = []
    try:
        if os.access(ro, os.W_OK):  # root ignores permissions: nothing to test here
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(CheckpointError, match="cannot write checkpoints to"):
            run(CFG, checkpoint=ro / "run.pt", evaluate=lambda m: calls.append(1) or {})
        assert not calls  # failed before the first step, not after the whole run
    finally:
        ro.chmod(0o700)


def test_unwritable_checkpoint_directory_fails_before_training(tmp_path):
    """As root, permissions do not stop writes; a path under a regular file cannot be created."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    steps = []
    with pytest.raises(CheckpointError, match="cannot write checkpoints to"):
        run(CFG, checkpoint=blocker / "run.pt", evaluate=lambda m: steps.append(1) or {})
    assert not steps


def test_resume_refuses_other_batches(tmp_path):
    path = tmp_path / "run.pt"
    run(CFG, checkpoint=path)
    before = path.read_bytes()
    x, y = problem()
    for batches, what in [(Batches(x, y, batch_size=16, seed=1), "batch_size is 16, the checkpoint's is 32"),
                          (Batches(x * 2, y, batch_size=32, seed=1), "data (fingerprint)"),
                          (Batches(x, y, batch_size=32, seed=2), "seed is 2")]:
        torch.manual_seed(0)
        with pytest.raises(CheckpointError, match=f"(?s)other batches.*{re.escape(what)}"):
            fit(Tiny(), batches, CFG, checkpoint=path, progress=False)
    assert path.read_bytes() == before


def test_text_batches_record_their_data():
    from genai_lib.data import TextBatches

    a = TextBatches(torch.arange(100) % 7, block_size=8, batch_size=4)
    b = TextBatches(torch.arange(100) % 5, block_size=8, batch_size=4)
    with pytest.raises(ValueError, match="data"):
        b.load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="batch_size"):
        TextBatches(torch.arange(100) % 7, block_size=8, batch_size=2).load_state_dict(a.state_dict())
    state = a.state_dict()
    for key in ("fingerprint", "batch_size", "block_size"):  # an older checkpoint without these keys loads
        state.pop(key)
    b.load_state_dict(state)


def test_more_steps_on_resume_is_refused_with_a_cosine_schedule_but_allowed_with_a_constant_one(tmp_path):
    path = tmp_path / "run.pt"
    run(CFG, checkpoint=path)
    with pytest.raises(CheckpointError, match="(?s)steps: checkpoint 40, now 80.*cannot be extended"):
        run(replace(CFG, steps=80), checkpoint=path)
    const = replace(CFG, schedule="constant")
    path2 = tmp_path / "const.pt"
    run(const, checkpoint=path2)
    _, history = run(replace(const, steps=60), checkpoint=path2)
    assert history.steps == list(range(1, 61))


def test_a_weights_only_file_says_how_to_fine_tune(tmp_path):
    from genai_lib.pretrained import export_weights

    path = tmp_path / "run.pt"
    run(CFG, checkpoint=path)
    slim = export_weights(path, tmp_path / "weights.pt")
    before = slim.read_bytes()
    with pytest.raises(CheckpointError, match="(?s)weights only.*load_weights.*another checkpoint path"):
        run(CFG, checkpoint=slim)
    assert slim.read_bytes() == before
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_weights(path, slim)
    export_weights(path, slim, overwrite=True)


def test_student_copies_never_overwrite_the_notebooks(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "notebooks"
    src.mkdir()
    book = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                       "source": "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n"}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (src / "01.ipynb").write_text(json.dumps(book))
    before = (src / "01.ipynb").read_bytes()
    for dst in ("notebooks", "notebooks/./", str(src)):
        done = subprocess.run([sys.executable, "-m", "genai_lib.student", "notebooks", dst], cwd=tmp_path,
                              capture_output=True, text=True)
        assert done.returncode != 0 and "overwrite the instructor's notebooks" in done.stderr
        assert (src / "01.ipynb").read_bytes() == before
    done = subprocess.run([sys.executable, "-m", "genai_lib.student", "missing", "out"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode != 0 and "does not exist" in done.stderr


def test_a_failing_evaluation_does_not_cost_the_training(tmp_path):
    path = tmp_path / "run.pt"

    def broken(model):
        raise ZeroDivisionError("a bug in the metric")

    with pytest.raises(ZeroDivisionError):
        run(replace(CFG, checkpoint_every=0), checkpoint=path, evaluate=broken)
    assert torch.load(path, weights_only=True)["step"] == CFG.steps  # the trained weights were saved first
    _, history = run(replace(CFG, checkpoint_every=0), checkpoint=path, evaluate=lambda m: {"ok": 1.0})
    assert history.steps == list(range(1, CFG.steps + 1))  # and the run resumes as finished


def test_non_finite_buffers_are_never_saved(tmp_path):
    class NaNStat(nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = TinyConfig()
            self.w = nn.Parameter(torch.ones(2))
            self.register_buffer("stat", torch.zeros(1))

        def forward(self, x):
            self.stat.fill_(float("nan"))  # e.g. a BatchNorm running statistic gone bad
            return (self.w ** 2).sum()

    with pytest.raises(FloatingPointError, match="stat"):
        fit(NaNStat(), Batches(torch.zeros(4), batch_size=2), TrainConfig(steps=5), checkpoint=tmp_path / "b.pt",
            progress=False)
    assert not (tmp_path / "b.pt").exists()


def test_a_checkpoint_that_does_not_read_back_never_replaces_the_previous_one(tmp_path, monkeypatch):
    from genai_lib import train

    path = tmp_path / "run.pt"
    run(CFG, checkpoint=path)
    before = path.read_bytes()
    real_load = torch.load

    def corrupt_read(f, *args, **kwargs):
        if str(f).endswith(".tmp"):
            raise RuntimeError("simulated bad write")
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(train.torch, "load", corrupt_read)
    with pytest.raises(CheckpointError, match="(?s)simulated bad write.*previous file was kept"):
        train._save_atomic({"format": "x"}, path)
    assert path.read_bytes() == before and not (tmp_path / "run.pt.tmp").exists()


def test_the_data_fingerprint_depends_on_values_not_on_memory_layout():
    from genai_lib.data import fingerprint

    x = torch.rand(300, 7)
    assert fingerprint(x) == fingerprint(x.t().contiguous().t())  # same values, another layout
    assert fingerprint(x) != fingerprint(x.double())
    y = x.clone()
    y[123, 4] += 1e-3  # one value changed, probably not among the sampled ones: the byte sum sees it
    assert fingerprint(x) != fingerprint(y)
