"""Train a pretrained checkpoint shipped with genai_lib, and log how it was made.

    python scripts/pretrain.py ch04_dcgan     # or ch04_cgan, ch05_ddpm; resumable (rerun after an interruption)

Uses the recipe in ``genai_lib.presets.PRETRAINED_RECIPES``, trains with ``fit`` (checkpoint
in ``checkpoints/pretrain_<name>.pt``), evaluates samples with the reference classifier every
``eval_every`` steps (1,000 for a GAN, 500 for a diffusion model, whose samples cost many network
passes; against 1,000 real test images, so the log's FIDs are comparable only with FIDs computed
from the same numbers of samples), then writes ``genai_lib/weights/<name>.pt`` (weights
only), ``<name>.log`` and the file's line in ``SHA256SUMS``. Needs MNIST (GENAI_DATA_DIR).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from genai_lib import metrics, utils
from genai_lib.data import Batches, load_mnist, sha256
from genai_lib.curation import center_of_mass
from genai_lib.presets import PRETRAINED_RECIPES, build_pretrained, few_shot_indices
from genai_lib.pretrained import WEIGHTS_DIR, checksums, export_weights
from genai_lib.train import fit
from genai_lib.utils import seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(PRETRAINED_RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    recipe = PRETRAINED_RECIPES[args.name]
    log_path = WEIGHTS_DIR / f"{args.name}.log"
    lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        lines.append(msg)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    seed_everything(args.seed)
    if "gpt" in recipe:
        return pretrain_gpt(args, recipe, device, log, lines, log_path)
    x, y = load_mnist("train", device=device)
    if "subset" in recipe:  # a scarce-data recipe (Chapter 6) sees only these images
        idx = few_shot_indices(len(x)).to(device)
        x, y = x[idx], y[idx]
    clf = metrics.reference_classifier(device=device)
    real = load_mnist("test", device=device)[0][:1000]
    model = build_pretrained(args.name).to(device)
    is_gan = "gan" in recipe
    config = recipe["gan"] if is_gan else recipe["diffusion"]
    conditional = config.n_classes > 0
    n_eval = 1000 if is_gan else 500  # a diffusion sample costs many network passes
    eval_labels = torch.arange(n_eval, device=device) % 10
    real = real[:n_eval]

    def draw(model, y):
        if is_gan:
            return model.sample(n_eval, y=y)
        if y is None:  # unconditional: no label, no guidance
            return model.sample(n_eval, steps=recipe["sampling"]["steps"])
        return model.sample(n_eval, y=y, **recipe["sampling"])

    def evaluate(model) -> dict:
        with utils.fork_rng(device):  # fixed noise; the run's RNG (CPU and GPU) is untouched
            torch.manual_seed(1234)
            # a GAN that is conditional is evaluated on labelled samples; a diffusion model
            # first unconditionally (label "none"), then guided
            samples = draw(model, eval_labels if conditional and is_gan else None)
            result = metrics.evaluate_samples(clf, samples, real)
            if "subset" in recipe:  # does G draw shifted digits? (the spread of their centres, pixels)
                result["centre_spread"] = center_of_mass(samples).std(0).norm().item()
            if conditional:
                guided = samples if is_gan else draw(model, eval_labels)
                probs, _ = metrics.classify(clf, guided)
                result["label_accuracy"] = (probs.argmax(1).to(device) == eval_labels).float().mean().item()
        return result

    log(f"# {args.name}: made by `python scripts/pretrain.py {args.name}` (seed {args.seed})")
    log(f"python {platform.python_version()}, torch {torch.__version__}, device {device}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    log(f"model: {config}" + (f", sampling for evaluation: {recipe['sampling']}" if not is_gan else ""))
    log(f"training: {recipe['train']}, batch {recipe['batch']}")
    log(f"reference classifier test accuracy: {clf.test_accuracy:.4f}")
    t0 = time.time()
    Path("checkpoints").mkdir(exist_ok=True)
    ckpt = Path("checkpoints") / f"pretrain_{args.name}.pt"
    batches = Batches(x, y, batch_size=recipe["batch"], seed=args.seed) if conditional else \
        Batches(x, batch_size=recipe["batch"], seed=args.seed)
    history = fit(model, batches, recipe["train"], evaluate=evaluate, checkpoint=ckpt, progress=sys.stderr.isatty())
    log(f"trained {recipe['train'].steps} steps; training time {history.seconds / 60:.1f} min "
        f"(this invocation {(time.time() - t0) / 60:.1f} min)")
    for e in history.evals:
        log("eval " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in e.items()))
    finish(args.name, ckpt, log, lines, log_path)


def pretrain_gpt(args, recipe, device, log, lines, log_path) -> None:
    """Chapter 7a's poetry GPT: the training stanzas of genai_lib.poetry's fixed split; the log
    records the held-out character NLL (nats) and the character-unigram baseline's."""
    import math

    from genai_lib import poetry
    from genai_lib.data import CharTokenizer

    pairs = poetry.stanzas(poetry.load_tang_poems())
    train, held = poetry.split_stanzas(pairs)
    tok = CharTokenizer.from_text(poetry.NEWLINE + "".join(t for _, t in pairs))
    if tok.vocab_size != recipe["gpt"].vocab_size:
        raise SystemExit(f"vocabulary {tok.vocab_size} != recipe's {recipe['gpt'].vocab_size}: update the recipe")
    rows, held_rows = poetry.stanza_rows(train, tok), poetry.stanza_rows(held, tok)
    counts = torch.ones(tok.vocab_size).index_add_(0, rows[:, 1:][:, poetry.CHAR_TARGETS].flatten(),
                                                     torch.ones(rows.shape[0] * len(poetry.CHAR_TARGETS)))
    unigram = -(counts / counts.sum()).log()[held_rows[:, 1:][:, poetry.CHAR_TARGETS]].mean().item()
    log(f"# {args.name}: made by `python scripts/pretrain.py {args.name}` (seed {args.seed})")
    log(f"python {platform.python_version()}, torch {torch.__version__}, device {device}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    log(f"model: {recipe['gpt']}")
    log(f"training: {recipe['train']}, batch {recipe['batch']}")
    log(f"data: {len(train)} training and {len(held)} held-out stanzas (split by poem), vocabulary {tok.vocab_size}; "
        f"held-out character NLL of the character unigram: {unigram:.4f} nats (perplexity {math.exp(unigram):.0f})")
    model = build_pretrained(args.name).to(device)
    t0 = time.time()
    Path("checkpoints").mkdir(exist_ok=True)
    ckpt = Path("checkpoints") / f"pretrain_{args.name}.pt"
    batches = Batches(rows[:, :-1].to(device), rows[:, 1:].to(device), batch_size=recipe["batch"], seed=args.seed)
    history = fit(model, batches, recipe["train"], checkpoint=ckpt, progress=sys.stderr.isatty(),
                  evaluate=lambda m: {"held_out_char_nll": poetry.character_nll(m, held_rows)})
    log(f"trained {recipe['train'].steps} steps; training time {history.seconds / 60:.1f} min "
        f"(this invocation {(time.time() - t0) / 60:.1f} min)")
    for e in history.evals:
        log("eval " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in e.items()))
    finish(args.name, ckpt, log, lines, log_path)


def finish(name, ckpt, log, lines, log_path) -> None:
    """Export the weights, record their checksum, write the log."""
    out = export_weights(ckpt, WEIGHTS_DIR / f"{name}.pt", overwrite=True)
    digest = sha256(out)
    sums = checksums()
    sums[out.name] = digest
    (WEIGHTS_DIR / "SHA256SUMS").write_text("".join(f"{v}  {k}\n" for k, v in sorted(sums.items())))
    log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), sha256 {digest}")
    log_path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
