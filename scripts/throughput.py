"""What each model the course ships costs to train and to sample: measured throughput on this machine.

For the chapter section "Cost and value". Every model family at the size the course uses (the
notebooks' presets for this machine's profile: ``quick`` on a CPU, ``full`` on a GPU; the GPT in
both its presets; the pretrained recipes ``ch04_dcgan`` and ``ch05_ddpm``), with random weights
and random data (the time a step takes does not depend on the values), measured two ways:

* **training**: optimizer steps at the course's batch size through the course's own loop
  (``genai_lib.train.fit``, hence the model's own ``training_step`` where it has one, and the
  notebooks' autocast precision); samples (images, tokens or 2-D points) per second;
* **sampling**: the course's sampling call, ``sample`` or ``generate``; samples per second.
  GPT and LSTM: ``generate`` at batch 1 and at batch 64. The GPT's prompt already fills its
  context (``block_size`` tokens), so every new token costs a full-context forward pass, as in
  any generation longer than the context (the model keeps no key-value cache). Diffusion:
  DDIM with 25 steps, with guidance 2 (two network passes per step: the course's evaluation
  setting) and without a label (one pass), and DDPM's 1,000 ancestral steps with guidance 2
  (on a GPU only: on a 2-core CPU even a batch of 8 takes about 20 s, too long for six repetitions;
  ``skipped`` in the JSON says so).

Training runs under the notebooks' autocast (bf16 on an H100) but without ``torch.compile``, which
notebook 3a turns on for the GPT on a GPU: its compile time is not throughput, so the GPT's GPU
training figure is the eager one. Sampling runs in float32, as the notebooks call it.

Method (as ``scripts/bench.py``): every measurement is warmed up once; a repetition does enough
calls to last about ``TARGET_S`` seconds; then ``--rounds`` rounds run every measurement once
each, in alternating order, and the figure is the median over rounds (``torch.cuda.synchronize``
around each repetition on a GPU). A measurement whose single call takes long (the full GPT on a
CPU) gets fewer rounds, so that none takes more than about ``JOB_BUDGET_S`` seconds.

Output: ``<out-dir>/throughput_<device type>.json`` (``cpu`` or ``cuda``) through
``pretrained.write_measurement``; its ``results`` hold one flat row per model and sampler::

    {row name: {"params": int,            # trainable parameters (what the notebooks count)
                "weights_mb": float,      # their float32 size, 4 bytes each, in MB (10^6 bytes)
                "train_per_s": float,     # training throughput, train_unit per second
                "train_unit": str,        # "images", "tokens" or "points"
                "batch": int,             # the training batch (the course's); tokens: sequences of block_size
                "sample_per_s": float,    # sampling throughput, sample_unit per second
                "sample_unit": str,       # "images", "tokens" or "points"
                "sampler": str,           # the sampling call, e.g. "DDIM, 25 steps, guidance 2"
                "sample_batch": int,      # samples (sequences, for tokens) per sampling call
                "config": str,            # the model's configuration and where it comes from
                "rounds": int}}           # timed rounds behind the medians

A model with several samplers has one row per sampler (``gpt_quick_b1``, ``gpt_quick_b64``, ...);
its training figures are the same measurement, repeated. ``cost_per_1000`` turns a throughput into
dollars per 1,000 samples at a machine's hourly price.

Usage: ``python scripts/throughput.py [--rounds 5] [--out-dir genai_lib/weights]``;
``--smoke --out-dir DIR`` runs one round of tiny batches (for the test suite; figures meaningless).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from genai_lib import presets, pretrained, runtime
from genai_lib.data import Batches, TextBatches
from genai_lib.models.flow import FlowConfig, RealNVP
from genai_lib.models.gpt import GPT
from genai_lib.models.rnn import CharRNN, RNNConfig
from genai_lib.models.vae import VAE, VAEConfig
from genai_lib.models.vqvae import VQVAE, CodePrior, VQVAEConfig
from genai_lib.train import TrainConfig, fit
from genai_lib.utils import count_parameters
from genai_lib.validate import check_number

TARGET_S = 0.25        # a repetition lasts about this long (more calls for a fast model)
JOB_BUDGET_S = 30.0    # at most about this long per measurement: a slow one gets fewer rounds
MAX_CALLS = 500        # calls per repetition, at most
VOCAB = 65             # Tiny Shakespeare's characters (the notebooks' tokenizer)
DDPM_ROW = "ddpm_ddpm1000_guided"   # DDPM's full chain (ch05_ddpm: T = 1000), measured on a GPU only

# The notebooks' presets (they are defined in the notebooks, so they are repeated here; the
# notebook and cell are named beside each). Key: the runtime profile.
NOTEBOOK_PRESETS = {
    # 02a_vae.ipynb, PRESETS: the MLP VAE, batch 128
    "vae_mlp": {"quick": VAEConfig(latent_dim=20, hidden=400), "full": VAEConfig(latent_dim=32, hidden=512)},
    # 02b_vae_evaluation_vqvae.ipynb, PRESETS: the conv VAE and the VQ-VAE, batch 128
    "vae_conv": {"quick": VAEConfig(arch="conv", latent_dim=20, hidden=128),
                 "full": VAEConfig(arch="conv", latent_dim=32, hidden=512)},
    "vqvae": {"quick": VQVAEConfig(codebook_size=32, code_dim=16, channels=32),
              "full": VQVAEConfig(codebook_size=128, code_dim=32, channels=128)},
    # 03b_rnn_lora_scale.ipynb, PRESETS: the character LSTM (block, batch)
    "char_rnn": {"quick": (RNNConfig(vocab_size=VOCAB, n_embd=64, hidden=256), 64, 32),
                 "full": (RNNConfig(vocab_size=VOCAB, n_embd=128, hidden=512, n_layer=2), 128, 64)},
    # 05a_flows.ipynb, PRESETS: RealNVP on 2-D points, batch 256
    "realnvp": {"quick": FlowConfig(n_layers=8, hidden=64), "full": FlowConfig(n_layers=8, hidden=128)},
}


def cost_per_1000(sample_per_s: float, price_per_hour: float) -> float:
    """Dollars per 1,000 samples on a machine rented at ``price_per_hour`` dollars that does
    nothing else: $1000 / r$ seconds at $p / 3600$ dollars a second, $= p / (3.6\\, r)$."""
    check_number(sample_per_s, "sample_per_s", 0, low_open=True)
    check_number(price_per_hour, "price_per_hour", 0)
    return price_per_hour / 3600 * 1000 / sample_per_s


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# --- the measurements: each is a function run(n) -> units of work done ---------------------------

@dataclasses.dataclass
class Model:
    """One model: how to train it n steps and, per sampler row, how to sample from it n times."""
    name: str
    module: torch.nn.Module
    config: str
    train: Callable[[int], int]           # run(n steps) -> samples trained on
    train_unit: str
    batch: int
    samplers: dict[str, tuple]            # row name -> (run(n calls) -> samples drawn, unit, description, batch)


def trainer(model: torch.nn.Module, batches, train_cfg: TrainConfig, per_step: int, rt) -> Callable[[int], int]:
    """n steps of the course's ``fit`` with the course's optimizer settings (schedule, warm-up and
    evaluation removed: they cost nothing measurable or are not training)."""
    def run(n: int) -> int:
        cfg = dataclasses.replace(train_cfg, steps=n, warmup_steps=0, schedule="constant", eval_every=0,
                                  checkpoint_every=0, log_every=n, compile=False)
        fit(model, batches, cfg, amp_dtype=rt.amp_dtype, progress=False)
        return n * per_step
    return run


def calls(fn: Callable[[], None], per_call: int) -> Callable[[int], int]:
    def run(n: int) -> int:
        for _ in range(n):
            fn()
        return n * per_call
    return run


def describe(cfg, source: str) -> str:
    fields = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(cfg).items())
    return f"{type(cfg).__name__}({fields}); {source}"


def language_models(rt, s: dict) -> list[Model]:
    out = []
    text = torch.randint(VOCAB, (100_000,))  # random "text": the cost does not depend on which characters
    for profile in ("quick", "full"):
        P = presets.SHAKESPEARE_GPT[profile]
        cfg, batch = P["gpt"], s["train_batch"](P["batch"])
        gpt = GPT(cfg).to(rt.device)
        samplers = {}
        for b in (1, 64):
            sb = s["gen_batch"](b)
            prompt = torch.randint(VOCAB, (sb, cfg.block_size), device=rt.device)  # a full context
            samplers[f"gpt_{profile}_b{b}"] = (
                lambda n, m=gpt, p=prompt: m.eval().generate(p, n).shape[0] * n, "tokens",
                f"generate, batch {sb}, temperature 1, context full ({cfg.block_size} tokens)", sb)
        out.append(Model(f"gpt_{profile}", gpt, describe(cfg, f"presets.SHAKESPEARE_GPT['{profile}']"),
                         trainer(gpt, TextBatches(text, cfg.block_size, batch, device=rt.device), P["train"],
                                 batch * cfg.block_size, rt), "tokens", batch, samplers))
    cfg, block, batch = NOTEBOOK_PRESETS["char_rnn"][rt.profile]
    batch = s["train_batch"](batch)
    rnn = CharRNN(cfg).to(rt.device)
    samplers = {}
    for b in (1, 64):
        sb = s["gen_batch"](b)
        prompt = torch.randint(VOCAB, (sb, 1), device=rt.device)
        samplers[f"char_rnn_b{b}"] = (lambda n, p=prompt: rnn.eval().generate(p, n).shape[0] * n, "tokens",
                                      f"generate, batch {sb}, temperature 1", sb)
    train_cfg = TrainConfig(lr=3e-3)  # 03b's optimizer (AdamW, clip 1.0); the lr does not change the cost
    out.append(Model("char_rnn", rnn, describe(cfg, f"03b_rnn_lora_scale.ipynb, {rt.profile}, block {block}"),
                     trainer(rnn, TextBatches(text, block, batch, device=rt.device), train_cfg, batch * block, rt),
                     "tokens", batch, samplers))
    return out


def image_models(rt, s: dict) -> list[Model]:
    out, B = [], s["sample_batch"]
    images = torch.rand(2048, 1, 28, 28, device=rt.device)        # random "MNIST": pixels in [0, 1]
    labels = torch.randint(10, (2048,), device=rt.device)
    vae_train = TrainConfig(lr=2e-3)                              # 02a/02b: AdamW, clip 1.0

    for name, source in (("vae_mlp", "02a_vae.ipynb"), ("vae_conv", "02b_vae_evaluation_vqvae.ipynb")):
        cfg, batch = NOTEBOOK_PRESETS[name][rt.profile], s["train_batch"](128)
        vae = VAE(cfg).to(rt.device)
        out.append(Model(name, vae, describe(cfg, f"{source}, {rt.profile}"),
                         trainer(vae, Batches(images, batch_size=batch), vae_train, batch, rt), "images", batch,
                         {name: (calls(lambda m=vae: m.sample(B), B), "images", "decode z ~ N(0, I)", B)}))

    cfg, batch = NOTEBOOK_PRESETS["vqvae"][rt.profile], s["train_batch"](128)
    vq = VQVAE(cfg).to(rt.device)
    # The prior of 02b: a Markov chain over the 7x7 code grid, fitted here to random codes.
    prior = CodePrior(torch.randint(cfg.codebook_size, (1000, 7, 7)), cfg.codebook_size)
    out.append(Model("vqvae", vq, describe(cfg, f"02b_vae_evaluation_vqvae.ipynb, {rt.profile}"),
                     trainer(vq, Batches(images, batch_size=batch), vae_train, batch, rt), "images", batch,
                     {"vqvae": (calls(lambda: vq.decode_indices(prior.sample(B).to(rt.device)), B), "images",
                                "codes from the Markov prior (on the CPU), then decode", B)}))

    recipe = presets.PRETRAINED_RECIPES["ch04_dcgan"]
    batch = s["train_batch"](recipe["batch"])
    gan = presets.build_pretrained("ch04_dcgan").to(rt.device)
    out.append(Model("dcgan", gan, describe(recipe["gan"], "PRETRAINED_RECIPES['ch04_dcgan']"),
                     trainer(gan, Batches(images, batch_size=batch), recipe["train"], batch, rt), "images", batch,
                     {"dcgan": (calls(lambda: gan.sample(B), B), "images", "G (its moving average) on fresh z", B)}))

    recipe = presets.PRETRAINED_RECIPES["ch05_ddpm"]
    batch = s["train_batch"](recipe["batch"])
    ddpm = presets.build_pretrained("ch05_ddpm").to(rt.device)
    k, guidance = recipe["sampling"]["steps"], recipe["sampling"]["guidance"]   # DDIM 25 steps, guidance 2
    steps = s["ddim_steps"](k)
    Bd, Bp = s["ddim_batch"], s["ddpm_batch"]
    y_d, y_p = torch.randint(10, (Bd,), device=rt.device), torch.randint(10, (Bp,), device=rt.device)
    samplers = {  # row names keep the recipe's step count, also in a smoke run
        f"ddpm_ddim{k}_guided": (calls(lambda: ddpm.sample(y=y_d, steps=steps, guidance=guidance, batch_size=Bd),
                                       Bd), "images", f"DDIM, {steps} steps, guidance {guidance:g}", Bd),
        f"ddpm_ddim{k}_no_label": (calls(lambda: ddpm.sample(Bd, steps=steps, batch_size=Bd), Bd), "images",
                                   f"DDIM, {steps} steps, no label", Bd),
    }
    if Bp:
        samplers[DDPM_ROW] = (
            calls(lambda: ddpm.sample(y=y_p, steps=None, guidance=guidance, batch_size=Bp), Bp), "images",
            f"DDPM, {recipe['diffusion'].T} steps, guidance {guidance:g}", Bp)
    out.append(Model("ddpm", ddpm, describe(recipe["diffusion"], "PRETRAINED_RECIPES['ch05_ddpm']"),
                     trainer(ddpm, Batches(images, labels, batch_size=batch), recipe["train"], batch, rt),
                     "images", batch, samplers))

    cfg, batch = NOTEBOOK_PRESETS["realnvp"][rt.profile], s["train_batch"](256)
    flow = RealNVP(cfg).to(rt.device)
    points = torch.randn(2048, cfg.dim, device=rt.device)
    out.append(Model("realnvp", flow, describe(cfg, f"05a_flows.ipynb, {rt.profile}"),
                     trainer(flow, Batches(points, batch_size=batch), TrainConfig(lr=3e-3), batch, rt), "points", batch,
                     {"realnvp": (calls(lambda: flow.sample(B), B), "points", "inverse flow on z ~ N(0, I)", B)}))
    return out


# --- timing ------------------------------------------------------------------------------------

def timed(run: Callable[[int], int], n: int, device: torch.device) -> tuple[float, int]:
    sync(device)
    t0 = time.perf_counter()
    units = run(n)
    sync(device)
    return time.perf_counter() - t0, units


def measure(jobs: dict[str, Callable[[int], int]], rounds: int, device: torch.device, target_s: float,
            log=print) -> dict[str, dict]:
    """Warm each job up once (one call) and choose its calls per repetition (``target_s`` 0: no
    warm-up, one call); then ``rounds`` rounds, each job once per round in alternating order.
    Returns {job: {"per_s": median units per second, "rounds": rounds it ran}}."""
    plan = {}
    for name, run in jobs.items():
        if target_s <= 0:  # smoke: no warm-up, one call per repetition
            plan[name] = (1, rounds)
            continue
        dt, _ = timed(run, 1, device)                       # warm-up: allocation, autotuning, optimizer state
        if dt < target_s:
            dt, _ = timed(run, 1, device)                   # the warm-up's time may include one-off costs
        n = max(1, min(MAX_CALLS, round(target_s / dt)))
        plan[name] = (n, max(1, min(rounds, int(JOB_BUDGET_S / (n * dt)))))
        log(f"  warmed up {name}: {dt * 1000:.1f} ms per call, {plan[name][0]} per repetition, "
            f"{plan[name][1]} rounds")
    rates: dict[str, list[float]] = {name: [] for name in jobs}
    for r in range(rounds):
        order = list(jobs) if r % 2 == 0 else list(reversed(jobs))   # no fixed first place
        for name in order:
            n, max_rounds = plan[name]
            if r < max_rounds:
                seconds, units = timed(jobs[name], n, device)
                rates[name].append(units / seconds)
    return {name: {"per_s": statistics.median(v), "rounds": len(v)} for name, v in rates.items()}


def table(results: dict[str, dict]) -> str:
    lines = [f"{'row':24s} {'params':>11s} {'MB':>7s} {'train /s':>11s} {'unit':7s} {'batch':>5s} "
             f"{'sample /s':>11s} {'unit':7s} sampler"]
    for name, r in results.items():
        lines.append(f"{name:24s} {r['params']:11,d} {r['weights_mb']:7.2f} {r['train_per_s']:11,.1f} "
                     f"{r['train_unit']:7s} {r['batch']:5d} {r['sample_per_s']:11,.1f} {r['sample_unit']:7s} "
                     f"{r['sampler']}")
    return "\n".join(lines)


def sizes(rt, smoke: bool) -> dict:
    """Batch sizes: the course's for training; for sampling, what the course samples at once on
    this device (a GPU: 1,024 images, Diffusion.sample's GPU default). Smoke: tiny everything,
    DDIM 2 steps."""
    gpu = rt.device.type == "cuda"
    if smoke:
        return dict(train_batch=lambda b: 2, gen_batch=lambda b: min(b, 2), sample_batch=2, ddim_batch=2,
                    ddim_steps=lambda k: 2, ddpm_batch=2 if gpu else 0)
    return dict(train_batch=lambda b: b, gen_batch=lambda b: b, sample_batch=1024 if gpu else 256,
                ddim_steps=lambda k: k,
                ddim_batch=1024 if gpu else 32,   # CPU: Diffusion.sample works in chunks of 64 (guided: 2 x 32)
                ddpm_batch=1024 if gpu else 0)    # as DDIM's, so the two compare at equal batch; CPU: skipped
                                                  # (one batch of 8 takes about 20 s per round)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="one round of tiny batches, to test the script")
    ap.add_argument("--out-dir", default=None, help=f"where the JSON goes (default {pretrained.WEIGHTS_DIR})")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")
    out_dir = Path(args.out_dir) if args.out_dir else pretrained.WEIGHTS_DIR
    if args.smoke and out_dir.resolve() == pretrained.WEIGHTS_DIR.resolve():
        ap.error("--smoke needs --out-dir elsewhere than genai_lib/weights: a smoke run must not "
                 "overwrite the committed measurement")
    rt = runtime.runtime()
    rounds = 1 if args.smoke else args.rounds
    t0 = time.time()
    print(rt.describe())
    torch.manual_seed(0)
    s = sizes(rt, args.smoke)
    models = language_models(rt, s) + image_models(rt, s)
    jobs = {}
    for m in models:
        jobs[f"{m.name}: train"] = m.train
        for row, (run, *_rest) in m.samplers.items():
            jobs[f"{row}: sample"] = run
    timings = measure(jobs, rounds, rt.device, 0.0 if args.smoke else TARGET_S)

    results = {}
    for m in models:
        params = count_parameters(m.module)
        train = timings[f"{m.name}: train"]
        for row, (_, unit, sampler, sample_batch) in m.samplers.items():
            sample = timings[f"{row}: sample"]
            results[row] = {"params": params, "weights_mb": round(4 * params / 1e6, 3),
                            "train_per_s": train["per_s"], "train_unit": m.train_unit, "batch": m.batch,
                            "sample_per_s": sample["per_s"], "sample_unit": unit, "sampler": sampler,
                            "sample_batch": sample_batch, "config": m.config,
                            "rounds": min(train["rounds"], sample["rounds"])}
    skipped = {}
    if not s["ddpm_batch"]:
        skipped[DDPM_ROW] = ("DDPM's 1,000 guided steps are measured on a GPU only: on a 2-core "
                                           "CPU one batch of 8 takes about 20 s. The cost per network pass is "
                                           "DDIM's, so expect about 1000/25 = 40 times fewer images per second "
                                           "than ddpm_ddim25_guided.")
    print(table(results))
    made_by = "python scripts/throughput.py" + " ".join([""] + (argv if argv is not None else sys.argv[1:]))
    out = pretrained.write_measurement(f"throughput_{rt.device.type}", made_by, results, time.time() - t0,
                                       directory=out_dir, smoke=args.smoke, profile=rt.profile, rounds=rounds,
                                       precision="training: the notebooks' autocast, not compiled; sampling: float32",
                                       skipped=skipped)
    print(f"({time.time() - t0:.0f} s; wrote {out})")


if __name__ == "__main__":
    main()
