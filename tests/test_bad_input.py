"""Bad input gets one clear error: a table of calls, each with the exception and a fragment of its message.

Every row is something a realistic user might pass (a wrong shape, dtype, range, an empty
input, a bad config field, labels a model would ignore). Before the validation layer
(genai_lib/validate.py) most of these gave a raw error from deep inside PyTorch, or no error
at all and garbage. The message fragments check that the error names the argument and says
what was expected.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from genai_lib import audio, check, curation, grade, metrics, music, plot, poetry, presets, pretrained, runtime, student, tabular, utils, video
from genai_lib import data as gd
from genai_lib import train as gt
from genai_lib.models import diffusion as gdiff
from genai_lib.models import editing, flow, gan, gmm, gpt, lora, ngram, rnn, unet, vae, vqvae, wavenet

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
IMG = torch.rand(4, 1, 28, 28)
Y = torch.arange(4)


def small_vae():
    return vae.VAE(vae.VAEConfig(latent_dim=4, hidden=32))


def small_gan(**kw):
    return gan.GAN(gan.GANConfig(arch="dc", hidden=8, z_dim=8, **kw))


def small_diffusion(n_classes=0):
    return gdiff.Diffusion(gdiff.DiffusionConfig(channels=8, n_classes=n_classes, T=10))


def small_gpt():
    return gpt.GPT(gpt.GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))


def small_rnn():
    return rnn.CharRNN(rnn.RNNConfig(vocab_size=11, n_embd=4, hidden=8))


def small_vq():
    return vqvae.VQVAE(vqvae.VQVAEConfig(codebook_size=4, code_dim=2, channels=4))


SCHED = gdiff.Schedule(gdiff.linear_betas(10))
PROBS = torch.tensor([[0.95, 0.05], [0.5, 0.5]])
FEATS = torch.randn(20, 3)


def bad_notebook(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "## begin solution\nx = 42\n## end solution\n",
                     "outputs": [], "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (src / "a.ipynb").write_text(json.dumps(nb))
    return src


# (id, call, exception, message fragment)
def small_wavenet():
    return wavenet.WaveNet(wavenet.WaveNetConfig(channels=16, residual=4, skip=4, layers_per_stack=2))


ROWS = [
    # --- TrainConfig and the training loop
    ("TrainConfig.grad_clip=-1", lambda: gt.TrainConfig(grad_clip=-1), ValueError, "TrainConfig.grad_clip must be"),
    ("TrainConfig.grad_clip=0", lambda: gt.TrainConfig(grad_clip=0), ValueError, "Use None to turn gradient clipping off"),
    ("TrainConfig.steps=0", lambda: gt.TrainConfig(steps=0), ValueError, "TrainConfig.steps must be an integer >= 1"),
    ("TrainConfig.steps=2.5", lambda: gt.TrainConfig(steps=2.5), TypeError, "TrainConfig.steps must be an integer"),
    ("TrainConfig.log_every=0", lambda: gt.TrainConfig(log_every=0), ValueError, "TrainConfig.log_every"),
    ("TrainConfig.lr=nan", lambda: gt.TrainConfig(lr=float("nan")), ValueError, "TrainConfig.lr must be a finite"),
    ("TrainConfig.lr=0", lambda: gt.TrainConfig(lr=0), ValueError, "TrainConfig.lr"),
    ("TrainConfig.betas", lambda: gt.TrainConfig(betas=(0.9, 1.0)), ValueError, "TrainConfig.betas[1]"),
    ("TrainConfig.schedule", lambda: gt.TrainConfig(schedule="linear"), ValueError, "TrainConfig.schedule must be one of"),
    ("TrainConfig.min_lr_ratio", lambda: gt.TrainConfig(min_lr_ratio=2), ValueError, "TrainConfig.min_lr_ratio"),
    ("TrainConfig.eval_every<0", lambda: gt.TrainConfig(eval_every=-1), ValueError, "TrainConfig.eval_every"),
    ("TrainConfig.checkpoint_every<0", lambda: gt.TrainConfig(checkpoint_every=-5), ValueError, "checkpoint_every"),
    ("TrainConfig.warmup_steps<0", lambda: gt.TrainConfig(warmup_steps=-1), ValueError, "warmup_steps"),
    ("TrainConfig.weight_decay<0", lambda: gt.TrainConfig(weight_decay=-0.1), ValueError, "weight_decay"),
    ("TrainConfig.compile", lambda: gt.TrainConfig(compile="yes"), TypeError, "TrainConfig.compile"),
    ("lr_lambda", lambda: gt.lr_lambda(object()), TypeError, "cfg must be a TrainConfig"),
    ("fit model", lambda: gt.fit("model", gd.Batches(IMG, batch_size=2), gt.TrainConfig(steps=1)), TypeError,
     "model must be a torch.nn.Module"),
    ("fit cfg", lambda: gt.fit(small_vae(), gd.Batches(IMG, batch_size=2), {"steps": 1}), TypeError,
     "cfg must be a TrainConfig"),
    ("fit batches", lambda: gt.fit(small_vae(), IMG, gt.TrainConfig(steps=1)), TypeError,
     "batches must be an iterator"),
    ("fit stream without state", lambda: gt.fit(small_vae(), iter([(IMG,)]), gt.TrainConfig(steps=1), checkpoint="/tmp/x.pt"),
     TypeError, "state_dict() and load_state_dict()"),
    ("fit checkpoint is a directory", lambda: gt.fit(small_vae(), gd.Batches(IMG, batch_size=2), gt.TrainConfig(steps=1),
                                                     checkpoint="/tmp"), ValueError, "checkpoint must be a file path"),
    ("fit no parameters", lambda: gt.fit(nn.ReLU(), gd.Batches(IMG, batch_size=2), gt.TrainConfig(steps=1)),
     ValueError, "a module with parameters"),
    ("History.last empty", lambda: gt.History().last(), KeyError, "no 'loss' values were recorded"),
    ("load_checkpoint missing", lambda: gt.load_checkpoint("/nonexistent/x.pt"), gt.CheckpointError, "no checkpoint"),
    ("load_weights missing", lambda: gt.load_weights(small_vae(), "/nonexistent/x.pt"), gt.CheckpointError,
     "no checkpoint"),
    ("check_writable", lambda: gt.check_writable("/proc/genai_lib_cannot_write_here"), gt.CheckpointError,
     "cannot write checkpoints"),
    # --- data
    ("Batches empty", lambda: gd.Batches(torch.zeros(0, 2), batch_size=1), ValueError, "tensors[0] must be"),
    ("Batches batch_size=0", lambda: gd.Batches(IMG, batch_size=0), ValueError, "batch_size must be an integer between 1 and 4"),
    ("Batches not a tensor", lambda: gd.Batches([1, 2, 3], batch_size=1), TypeError, "tensors[0] must be a torch.Tensor"),
    ("Batches drop_last", lambda: gd.Batches(IMG, batch_size=2, drop_last="no"), TypeError, "drop_last must be True"),
    ("Batches NaN", lambda: gd.Batches(torch.full((4, 2), float("nan")), batch_size=2), ValueError, "finite"),
    ("Batches lengths", lambda: gd.Batches(IMG, Y[:3], batch_size=1), ValueError, "same first dimension"),
    ("TextBatches batch_size=0", lambda: gd.TextBatches(torch.arange(100), 8, 0), ValueError, "batch_size must be"),
    ("TextBatches float ids", lambda: gd.TextBatches(torch.rand(100), 8, 2), TypeError, "ids must be"),
    ("TextBatches too short", lambda: gd.TextBatches(torch.arange(5), 8, 2), ValueError, "longer than block_size=8"),
    ("load_shakespeare val_fraction", lambda: gd.load_shakespeare(val_fraction=1.5), ValueError,
     "val_fraction must be a finite number in (0, 1)"),
    ("load_mnist split", lambda: gd.load_mnist("validation"), ValueError, "split must be 'train' or 'test'"),
    ("fetch unknown", lambda: gd.fetch("cifar", "x"), gd.DataError, "unknown dataset"),
    ("read_idx missing", lambda: gd.read_idx("/nonexistent.idx"), gd.DataError, "cannot be read"),
    ("ring_of_gaussians n=0", lambda: gd.ring_of_gaussians(0), ValueError, "n must be an integer >= 1"),
    ("ring_of_gaussians std<0", lambda: gd.ring_of_gaussians(10, std=-1), ValueError, "std must be"),
    ("CharTokenizer.encode", lambda: gd.CharTokenizer("ab").encode("abc"), ValueError, "not in the vocabulary"),
    ("CharTokenizer.decode", lambda: gd.CharTokenizer("ab").decode([5]), ValueError, "out of range"),
    ("CharTokenizer.decode floats", lambda: gd.CharTokenizer("ab").decode(torch.tensor([0.5])), TypeError, "ids must be"),
    ("fingerprint", lambda: gd.fingerprint("not a tensor"), TypeError, "tensors[0] must be a torch.Tensor"),
    # --- VAE
    ("VAEConfig.latent_dim=0", lambda: vae.VAEConfig(latent_dim=0), ValueError, "VAEConfig.latent_dim"),
    ("VAEConfig.beta<0", lambda: vae.VAEConfig(beta=-1), ValueError, "VAEConfig.beta"),
    ("VAEConfig conv hidden", lambda: vae.VAEConfig(arch="conv", hidden=4), ValueError, "hidden >= 8"),
    ("VAE.forward 0-255 images", lambda: small_vae()(IMG * 255), ValueError, "divide by 255"),
    ("VAE [-1, 1] images", lambda: small_vae()(IMG * 2 - 1), ValueError, "(x + 1) / 2"),
    ("VAE uint8", lambda: small_vae()((IMG * 255).to(torch.uint8)), TypeError, "x.float() / 255"),
    ("VAE int", lambda: small_vae()(torch.ones(2, 1, 28, 28, dtype=torch.long)), TypeError, "floating-point"),
    ("VAE float64", lambda: small_vae()(IMG.double()), TypeError, "dtype torch.float32 (the model's)"),
    ("VAE NaN", lambda: small_vae()(torch.full((2, 1, 28, 28), float("nan"))), ValueError, "finite"),
    ("VAE empty", lambda: small_vae()(torch.zeros(0, 1, 28, 28)), ValueError, "at least one element"),
    ("VAE no channel", lambda: small_vae()(torch.rand(2, 28, 28)), ValueError, "unsqueeze(1)"),
    ("VAE labels ignored", lambda: small_vae()(IMG, Y), ValueError, "unconditional and takes no labels"),
    ("VAE.elbo", lambda: small_vae().elbo(IMG * 255), ValueError, "divide by 255"),
    ("VAE.log_likelihood", lambda: small_vae().log_likelihood(IMG, torch.randn(4, 5)), ValueError, "(N, 4)"),
    ("VAE.decode", lambda: small_vae().decode(torch.randn(2, 5)), ValueError, "(N, 4)"),
    ("VAE.sample n=0", lambda: small_vae().sample(0), ValueError, "n must be an integer >= 1"),
    ("VAE.iwae K=0", lambda: small_vae().iwae(IMG, 0), ValueError, "K must be an integer >= 1"),
    ("VAE.test_elbo batch", lambda: small_vae().test_elbo(IMG, batch_size=0), ValueError, "batch_size"),
    ("VAE.mean_image", lambda: small_vae().mean_image(torch.randn(2)), ValueError, "z must be"),
    ("gaussian_kl", lambda: vae.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, "same shape"),
    ("reparameterize", lambda: vae.reparameterize(torch.zeros(2, 3), torch.zeros(3)), ValueError, "same shape"),
    ("log_normal", lambda: vae.log_normal([1.0, 2.0]), TypeError, "z must be a torch.Tensor"),
    ("elbo beta", lambda: vae.elbo(IMG, torch.zeros(4, 2), torch.zeros(4, 2), lambda x, z: z.sum(1), beta=-1),
     ValueError, "beta must be"),
    ("iwae_bound K", lambda: vae.iwae_bound(IMG, torch.zeros(4, 2), torch.zeros(4, 2), lambda x, z: z.sum(1), K=0),
     ValueError, "K must be"),
    # --- GPT, LSTM, LoRA
    ("GPTConfig.block_size=0", lambda: gpt.GPTConfig(block_size=0), ValueError, "GPTConfig.block_size"),
    ("GPTConfig.n_head=0", lambda: gpt.GPTConfig(n_head=0), ValueError, "GPTConfig.n_head"),
    ("GPTConfig divisible", lambda: gpt.GPTConfig(n_embd=30, n_head=4), ValueError, "divisible by n_head=4"),
    ("GPTConfig.dropout", lambda: gpt.GPTConfig(dropout=1.0), ValueError, "GPTConfig.dropout"),
    ("GPTConfig.positions", lambda: gpt.GPTConfig(positions="rotary"), ValueError, "GPTConfig.positions"),
    ("GPT.forward ids range", lambda: small_gpt()(torch.tensor([[1, 11]])), ValueError, "token ids must be in [0, 11)"),
    ("GPT float ids", lambda: small_gpt()(torch.zeros(1, 4)), TypeError, "dtype torch.long"),
    ("GPT int32 ids", lambda: small_gpt()(torch.zeros(1, 4, dtype=torch.int32)), TypeError, "idx must be token ids of dtype torch.long"),
    ("GPT targets shape", lambda: small_gpt()(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long)),
     ValueError, "targets must be next tokens of the same shape"),
    ("GPT targets range", lambda: small_gpt()(torch.zeros(1, 4, dtype=torch.long), torch.full((1, 4), 20)),
     ValueError, "token ids must be in [0, 11)"),
    ("GPT.generate temperature<0", lambda: small_gpt().generate(torch.zeros(1, 1, dtype=torch.long), 3, temperature=-1),
     ValueError, "temperature must be a finite number >= 0"),
    ("GPT.generate temperature=nan", lambda: small_gpt().generate(torch.zeros(1, 1, dtype=torch.long), 3,
                                                                    temperature=float("nan")), ValueError, "temperature"),
    ("GPT.generate max_new_tokens<0", lambda: small_gpt().generate(torch.zeros(1, 1, dtype=torch.long), -1),
     ValueError, "max_new_tokens must be an integer >= 0"),
    ("GPT.generate empty prompt", lambda: small_gpt().generate(torch.zeros(1, 0, dtype=torch.long), 3),
     ValueError, "at least one token"),
    ("GPT.generate top_p", lambda: small_gpt().generate(torch.zeros(1, 1, dtype=torch.long), 1, top_p=0),
     ValueError, "top_p must be"),
    ("GPT.attention_maps", lambda: small_gpt().attention_maps(torch.zeros(1, 9, dtype=torch.long)), ValueError,
     "exceeds block_size"),
    ("causal_attention", lambda: gpt.causal_attention(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 3)),
     ValueError, "tensors of the same shape"),
    ("top_k_filter", lambda: gpt.top_k_filter(torch.zeros(1, 3), 0), ValueError, "top_k must be an integer >= 1"),
    ("GPT.generate processor", lambda: small_gpt().generate(torch.zeros(1, 1, dtype=torch.long), 1, processor=3),
     TypeError, "processor must be a function"),
    ("allowed_only", lambda: gpt.allowed_only("odd"), TypeError, "allowed must be a function"),
    ("GPT.next_logits", lambda: small_gpt().next_logits(torch.zeros(1, 0, dtype=torch.long)), ValueError,
     "at least one token per row"),
    # --- WaveNet and mu-law companding (raw audio)
    ("WaveNetConfig.channels=1", lambda: wavenet.WaveNetConfig(channels=1), ValueError,
     "WaveNetConfig.channels must be an integer >= 2"),
    ("WaveNetConfig.kernel_size=1", lambda: wavenet.WaveNetConfig(kernel_size=1), ValueError,
     "WaveNetConfig.kernel_size must be an integer >= 2"),
    ("WaveNet cfg", lambda: wavenet.WaveNet({"channels": 16}), TypeError, "cfg must be a WaveNetConfig"),
    ("receptive_field", lambda: wavenet.receptive_field({"kernel_size": 2}), TypeError, "cfg must be a WaveNetConfig"),
    ("mu_law_encode outside [-1, 1]", lambda: wavenet.mu_law_encode(torch.tensor([0.5, 1.5])), ValueError,
     "x must be a waveform with values in [-1, 1]"),
    ("mu_law_encode 16-bit PCM", lambda: wavenet.mu_law_encode(torch.tensor([-3000.0, 12000.0])), ValueError,
     "divide by 32768"),
    ("mu_law_encode integers", lambda: wavenet.mu_law_encode(torch.tensor([0, 1])), TypeError, "floating-point"),
    ("mu_law_decode", lambda: wavenet.mu_law_decode(torch.tensor([0, 256])), ValueError,
     "q must be mu-law codes in [0, 256)"),
    ("CausalConv1d.forward", lambda: wavenet.CausalConv1d(1, 1, 2)(torch.zeros(2, 5)), ValueError,
     "x must be a signal (B, C, T) with 3 dimensions"),
    ("GatedResidualBlock.forward", lambda: wavenet.GatedResidualBlock(4, 4, 2, 1)(torch.zeros(1, 3, 5)),
     ValueError, "C = 4 channels"),
    ("WaveNet.forward codes range", lambda: small_wavenet()(torch.tensor([[1, 16]])), ValueError,
     "x must be mu-law codes in [0, 16)"),
    ("WaveNet.forward float waveform", lambda: small_wavenet()(torch.zeros(1, 4)), TypeError, "x.long()"),
    ("WaveNet.forward targets shape", lambda: small_wavenet()(torch.zeros(1, 4, dtype=torch.long),
                                                              torch.zeros(1, 3, dtype=torch.long)), ValueError,
     "targets must be the next samples, of the same shape as x"),
    ("WaveNet.generate empty prompt", lambda: small_wavenet().generate(torch.zeros(1, 0, dtype=torch.long), 3),
     ValueError, "prompt must be at least one sample per row"),
    ("WaveNet.generate n<0", lambda: small_wavenet().generate(torch.zeros(1, 1, dtype=torch.long), -1), ValueError,
     "n must be an integer >= 0"),
    ("WaveNet.generate temperature<0", lambda: small_wavenet().generate(torch.zeros(1, 1, dtype=torch.long), 2,
                                                                        temperature=-1), ValueError,
     "temperature must be a finite number >= 0"),
    # --- Moving MNIST (video)
    ("moving_mnist digits shape", lambda: video.moving_mnist(torch.rand(4, 32, 32), 2), ValueError,
     "digits must be MNIST digits of shape (N, 28, 28) or (N, 1, 28, 28)"),
    ("moving_mnist 0-255 digits", lambda: video.moving_mnist(IMG * 255, 2), ValueError, "divide by 255"),
    ("moving_mnist frames=1", lambda: video.moving_mnist(IMG, 2, frames=1), ValueError,
     "frames must be an integer >= 2"),
    ("moving_mnist size=20", lambda: video.moving_mnist(IMG, 2, size=20), ValueError,
     "size must be an integer >= 28"),
    ("moving_mnist speed", lambda: video.moving_mnist(IMG, 2, speed=(4.0, 2.0)), ValueError,
     "speed[1] must be a finite number >= 4.0"),
    ("centre_of_mass", lambda: video.centre_of_mass(torch.zeros(2, 8, 8)), ValueError,
     "centre of mass of a blank frame is undefined"),
    # --- Chapter 7b: music
    ("pitch_token", lambda: music.pitch_token(200), ValueError, "midi must be an integer between 12 and 119"),
    ("duration_token", lambda: music.duration_token(0), ValueError, "quarter_length must be a note length"),
    ("melody_notes", lambda: music.melody_notes(["C4"]), ValueError, "an even number of tokens"),
    ("melody_notes pitch", lambda: music.melody_notes(["Db4", "d1"]), ValueError, "tokens[0] must be a pitch"),
    ("melody_tokens", lambda: music.melody_tokens(["C4", "d1"]), TypeError, "melody must be a music21 Stream"),
    ("tokens_to_stream", lambda: music.tokens_to_stream(["C4", "d1"], mode="dorian"), ValueError,
     "mode must be one of"),
    ("tokens_to_stream bpm", lambda: music.tokens_to_stream(["C4", "d1"], bpm=0), ValueError, "bpm must be"),
    ("write_melody", lambda: music.write_melody(["C4", "d1"], "melody.pdf"), ValueError,
     "path must be a file name ending in"),
    ("load_bach_chorales progress", lambda: music.load_bach_chorales(progress="yes"), TypeError,
     "progress must be True or False"),
    ("chorale_record", lambda: music.chorale_record("bwv66.6"), TypeError, "score must be a music21 Score"),
    ("load_bach_chorales", lambda: music.load_bach_chorales(time_signature=4), TypeError,
     "time_signature must be a string"),
    ("tune_groups", lambda: music.tune_groups([]), ValueError, "melodies must be a non-empty list"),
    ("split_chorales", lambda: music.split_chorales([{"tokens": []}] * 2, held_out=1.5), ValueError,
     "held_out must be"),
    ("split_chorales chorales", lambda: music.split_chorales([["C4", "d1"]]), ValueError,
     "chorales must be a list of at least two chorale dicts"),
    ("MelodyVocab", lambda: music.MelodyVocab(("C4", "d1")), ValueError, "tokens must be distinct tokens starting with"),
    ("MelodyVocab.from_melodies", lambda: music.MelodyVocab.from_melodies([]), ValueError,
     "melodies must be a non-empty list"),
    ("MelodyVocab.encode", lambda: music.MelodyVocab.from_melodies([["C4", "d1"]]).encode(["C7", "d1"]), ValueError,
     "tokens must be tokens of the vocabulary"),
    ("MelodyVocab.decode", lambda: music.MelodyVocab.from_melodies([["C4", "d1"]]).decode([99]), ValueError,
     "ids must be token ids in [0, 6)"),
    ("MelodyVocab.melody", lambda: music.MelodyVocab.from_melodies([["C4", "d1"]]).melody([1.5]), ValueError,
     "ids must be token ids"),
    ("MelodyVocab.allowed", lambda: music.MelodyVocab.from_melodies([["C4", "d1"]]).allowed(torch.tensor([[9]])),
     ValueError, "idx must be token ids in [0, 6)"),
    ("NGramConfig", lambda: ngram.NGramConfig(k=0), ValueError, "NGramConfig.k must be a finite number > 0"),
    ("NGramConfig weights", lambda: ngram.NGramConfig(n=2, weights=(0.5, 0.6)), ValueError,
     "NGramConfig.weights must be None, or a tuple of n = 2"),
    ("NGram.order_probs", lambda: ngram.NGram(ngram.NGramConfig(n=3), 4).order_probs([9, 0]), ValueError,
     "history must be a list of at least n - 1 = 2 token ids"),
    ("NGram.target_order_probs", lambda: ngram.NGram(ngram.NGramConfig(), 4).target_order_probs([]), ValueError,
     "sequences must be a non-empty list"),
    ("NGram", lambda: ngram.NGram(ngram.NGramConfig(), 0), ValueError, "vocab_size must be an integer >= 1"),
    ("NGram.fit", lambda: ngram.NGram(ngram.NGramConfig(), 4).fit([torch.tensor([0, 9])]), ValueError,
     "sequences[i] must be at least 2 ids in [0, 4)"),
    ("NGram.probs", lambda: ngram.NGram(ngram.NGramConfig(n=4), 4).probs([0]), ValueError,
     "history must be a list of at least n - 1 = 3 token ids"),
    ("NGram.nll", lambda: ngram.NGram(ngram.NGramConfig(), 4).nll([]), ValueError, "sequences must be a non-empty list"),
    ("NGram.generate", lambda: ngram.NGram(ngram.NGramConfig(), 4).generate(torch.tensor([[0.0]]), 2), TypeError,
     "idx must be token ids (B, T)"),
    ("sequence_nll", lambda: music.sequence_nll(small_gpt(), [torch.zeros(3)]), TypeError, "sequences[i] must be"),
    ("sequence_nll model", lambda: music.sequence_nll(nn.Linear(2, 2), [torch.zeros(3, dtype=torch.long)]), TypeError,
     "model must be a language model with cfg.block_size"),
    ("sequence_nll short", lambda: music.sequence_nll(small_gpt(), [torch.zeros(1, dtype=torch.long)]), ValueError,
     "sequences[i] must be at least 2 token ids"),
    ("pitch_class_histogram", lambda: music.pitch_class_histogram("C4 d1"), ValueError,
     "melodies must be a non-empty list"),
    ("interval_histogram", lambda: music.interval_histogram([["C4", "d1"]], max_interval=0), ValueError,
     "max_interval must be an integer >= 1"),
    ("in_key_share", lambda: music.in_key_share([["C4", "d1"]], "dorian"), ValueError, "mode must be one of"),
    ("copied_windows", lambda: music.copied_windows([["C4", "d1"]], [["C4", "d1"]], n=8), ValueError,
     "samples must be melodies of at least n=8 notes"),
    ("longest_copy", lambda: music.longest_copy([], [["C4", "d1"]]), ValueError, "samples must be a non-empty list"),
    ("SynthConfig", lambda: audio.SynthConfig(sample_rate=100), ValueError,
     "SynthConfig.sample_rate must be an integer >= 1000"),
    ("synthesize", lambda: audio.synthesize(["C4", "d1"], "fast"), TypeError, "cfg must be a SynthConfig"),
    # --- Chapter 7a: poetry
    ("load_tang_poems", lambda: poetry.load_tang_poems(files=()), ValueError, "files must be a non-empty tuple"),
    ("stanzas", lambda: poetry.stanzas(["床前明月光"]), TypeError, "poems must be a list of poems"),
    ("split_stanzas", lambda: poetry.split_stanzas([(0, "x")], held_out=1.0), ValueError, "held_out must be"),
    ("split_stanzas pairs", lambda: poetry.split_stanzas([]), ValueError, "pairs must be a non-empty list"),
    ("stanza_rows", lambda: poetry.stanza_rows(["床前明月光"], gd.CharTokenizer("床")), ValueError,
     "texts must be quatrains only"),
    ("character_nll", lambda: poetry.character_nll(small_gpt(), torch.zeros(2, 10, dtype=torch.long)), ValueError,
     "rows must be stanza rows of 26 tokens"),
    ("is_quatrain", lambda: poetry.is_quatrain(None), TypeError, "text must be a string"),
    ("rhyme_group", lambda: poetry.rhyme_group("床前"), ValueError, "char must be one character"),
    ("rhyme_groups", lambda: poetry.rhyme_groups(3), TypeError, "char must be one character (a str)"),
    ("rhymes", lambda: poetry.rhymes("", "a"), ValueError, "char must be one character"),
    ("rhyme_rate", lambda: poetry.rhyme_rate(["床前明月光"]), ValueError, "texts must be quatrains only"),
    ("quatrain_lines", lambda: poetry.quatrain_lines("床前明月光"), ValueError, "text must be a quatrain"),
    ("copied_lines", lambda: poetry.copied_lines([], {"床前明月光"}), ValueError, "samples must be a non-empty list"),
    ("longest_copy", lambda: poetry.longest_copy("床前明月光", "床前"), TypeError, "pieces must be the training"),
    ("line_pieces", lambda: poetry.line_pieces([]), ValueError, "texts must be a non-empty list of quatrains"),
    ("QuatrainConstraint", lambda: poetry.QuatrainConstraint("abc"), TypeError, "tok must be the poems' CharTokenizer"),
    ("QuatrainConstraint.allowed", lambda: poetry.QuatrainConstraint(gd.CharTokenizer("\n，。床")).allowed(
        torch.zeros(2, dtype=torch.long)), ValueError, "idx must be token ids (B, T)"),
    ("top_p_filter", lambda: gpt.top_p_filter(torch.zeros(1, 3), 1.5), ValueError, "top_p must be"),
    ("filter_logits", lambda: gpt.filter_logits(torch.zeros(1, 3), top_k=-2), ValueError, "top_k"),
    ("sinusoidal_positions", lambda: gpt.sinusoidal_positions(4, "d"), TypeError, "d must be an integer"),
    ("check_generation", lambda: gpt.check_generation(2.5, 1.0), TypeError, "max_new_tokens must be an integer"),
    ("RNNConfig.hidden=0", lambda: rnn.RNNConfig(hidden=0), ValueError, "RNNConfig.hidden"),
    ("CharRNN.generate temperature<0", lambda: small_rnn().generate(torch.zeros(1, 1, dtype=torch.long), 3,
                                                                     temperature=-0.5), ValueError, "temperature"),
    ("CharRNN.generate empty prompt", lambda: small_rnn().generate(torch.zeros(1, 0, dtype=torch.long), 3),
     ValueError, "at least one token"),
    ("CharRNN.forward float ids", lambda: small_rnn()(torch.zeros(1, 3)), TypeError, "dtype torch.long"),
    ("CharRNN.run ids", lambda: small_rnn().run(torch.tensor([[12]])), ValueError, "in [0, 11)"),
    ("LoRALinear r=0", lambda: lora.LoRALinear(nn.Linear(2, 2), r=0), ValueError, "r (the LoRA rank)"),
    ("LoRALinear alpha=0", lambda: lora.LoRALinear(nn.Linear(2, 2), alpha=0), ValueError, "alpha"),
    ("LoRALinear base", lambda: lora.LoRALinear(nn.Conv2d(1, 1, 1)), TypeError, "base must be a torch.nn.Linear"),
    ("add_lora targets", lambda: lora.add_lora(small_gpt(), targets="qkv"), TypeError, "targets must be"),
    ("add_lora none found", lambda: lora.add_lora(small_gpt(), targets=("nothing",)), ValueError, "no Linear layer"),
    ("merge_lora", lambda: lora.merge_lora("model"), TypeError, "model must be a torch.nn.Module"),
    # --- GANs
    ("GANConfig.loss", lambda: gan.GANConfig(loss="wasserstein"), ValueError, "GANConfig.loss must be one of"),
    ("GANConfig.ema=1", lambda: gan.GANConfig(ema=1.0), ValueError, "GANConfig.ema"),
    ("GANConfig both", lambda: gan.GANConfig(n_classes=10, latent_codes=10), ValueError, "not both"),
    ("GANConfig.d_steps=0", lambda: gan.GANConfig(d_steps=0), ValueError, "GANConfig.d_steps"),
    ("GAN.training_step 0-255 batch", lambda: small_gan().training_step((IMG * 255,), None), ValueError, "divide by 255"),
    ("GAN labels ignored", lambda: small_gan().training_step((IMG, Y), None), ValueError, "unconditional"),
    ("cGAN without labels", lambda: small_gan(n_classes=10).training_step((IMG,), None), ValueError, "conditional"),
    ("cGAN labels out of range", lambda: small_gan(n_classes=10).sample(y=torch.tensor([3, 10])), ValueError,
     "class labels in [0, 10)"),
    ("cGAN float labels", lambda: small_gan(n_classes=10).sample(y=torch.tensor([3.0])), TypeError, "dtype torch.long"),
    ("GAN.sample labels ignored", lambda: small_gan().sample(y=Y), ValueError, "this GAN is unconditional"),
    ("GAN.sample n=0", lambda: small_gan().sample(0), ValueError, "n must be an integer >= 1"),
    ("Generator.forward z shape", lambda: small_gan().G(torch.randn(2, 3)), ValueError, "(N, 8)"),
    ("Generator z dtype", lambda: small_gan().G(torch.randn(2, 8).double()), TypeError, "the model's"),
    ("Discriminator.forward images", lambda: small_gan().D(torch.rand(2, 28, 28)), ValueError, "(N, 1, 28, 28)"),
    ("GAN.sample n and z", lambda: small_gan().sample(3, z=torch.randn(4, 8)), ValueError, "n must be None or"),
    ("Discriminator labels ignored", lambda: small_gan().D(IMG, Y), ValueError, "unconditional"),
    ("d_loss", lambda: gan.d_loss([0.1], [0.2]), TypeError, "real_logits must be a torch.Tensor"),
    ("g_loss_minimax", lambda: gan.g_loss_minimax(torch.tensor([1, 2])), TypeError, "floating-point"),
    ("g_loss_nonsaturating", lambda: gan.g_loss_nonsaturating(None), TypeError, "fake_logits"),
    ("wgan_d_loss", lambda: gan.wgan_d_loss(torch.zeros(0), torch.zeros(2)), ValueError, "at least one element"),
    ("wgan_g_loss", lambda: gan.wgan_g_loss(1.0), TypeError, "fake_scores"),
    ("hinge_d_loss", lambda: gan.hinge_d_loss(torch.zeros(2), "x"), TypeError, "fake_scores"),
    ("gradient_penalty", lambda: gan.gradient_penalty(lambda x: x.sum(1), torch.zeros(2, 3), torch.zeros(3, 3)),
     ValueError, "same shape"),
    ("optimal_discriminator", lambda: gan.optimal_discriminator(torch.zeros(2), torch.zeros(3)), ValueError,
     "the same shape as log_p_data"),
    # --- diffusion
    ("DiffusionConfig.channels", lambda: gdiff.DiffusionConfig(channels=12), ValueError, "UNetConfig.channels must be a multiple of 8"),
    ("DiffusionConfig.T=0", lambda: gdiff.DiffusionConfig(T=0), ValueError, "DiffusionConfig.T"),
    ("DiffusionConfig.p_uncond", lambda: gdiff.DiffusionConfig(p_uncond=1.5), ValueError, "p_uncond"),
    ("UNetConfig.time_dim", lambda: unet.UNetConfig(time_dim=3), ValueError, "UNetConfig.time_dim must be even"),
    ("UNet.forward labels ignored", lambda: unet.UNet(unet.UNetConfig(channels=8))(IMG, Y, Y), ValueError, "unconditional"),
    ("UNet step count", lambda: unet.UNet(unet.UNetConfig(channels=8))(IMG, Y[:2]), ValueError, "one time step per image"),
    ("timestep_embedding", lambda: unet.timestep_embedding(torch.rand(2), 4), TypeError, "integer"),
    ("Diffusion.forward [-1, 1] images", lambda: small_diffusion()(IMG * 2 - 1), ValueError, "(x + 1) / 2"),
    ("Diffusion labels ignored", lambda: small_diffusion()(IMG, Y), ValueError, "unconditional and would ignore labels"),
    ("Diffusion labels missing", lambda: small_diffusion(10)(IMG), ValueError, "give labels"),
    ("Diffusion labels range", lambda: small_diffusion(10)(IMG, torch.tensor([0, 1, 2, 12])), ValueError, "[0, 10)"),
    ("Diffusion.sample guidance<0", lambda: small_diffusion(10).sample(y=Y, steps=2, guidance=-1), ValueError,
     "guidance must be a finite number >= 0"),
    ("Diffusion.sample guidance=nan", lambda: small_diffusion(10).sample(y=Y, steps=2, guidance=float("nan")),
     ValueError, "guidance"),
    ("Diffusion.sample eta", lambda: small_diffusion().sample(2, steps=2, eta=1.5), ValueError, "eta must be"),
    ("Diffusion.sample steps", lambda: small_diffusion().sample(2, steps=11), ValueError, "steps must be an integer between 1 and 10"),
    ("Diffusion.sample y unconditional", lambda: small_diffusion().sample(y=Y, steps=2), ValueError,
     "this diffusion model is unconditional"),
    ("Diffusion.sample n=0", lambda: small_diffusion().sample(0, steps=2), ValueError, "n must be an integer >= 1"),
    ("Diffusion.sample x_T shape", lambda: small_diffusion().sample(x_T=torch.randn(2, 28, 28), steps=2), ValueError,
     "x_T must be"),
    ("Diffusion.sample guidance without labels", lambda: small_diffusion(10).sample(2, steps=2, guidance=3.0),
     ValueError, "guidance must be 1"),
    ("Diffusion.sample n and x_T", lambda: small_diffusion().sample(3, x_T=torch.randn(2, 1, 28, 28), steps=2),
     ValueError, "n must be None or"),
    ("Diffusion.eps_fn", lambda: small_diffusion(10).eps_fn(Y, guidance=-2), ValueError, "guidance"),
    ("compare_samplers", lambda: gdiff.compare_samplers(small_diffusion(), metrics.ReferenceCNN(), IMG,
                                                        torch.randn(2, 28, 28), {"DDIM": dict(steps=2)}),
     ValueError, "x_T must be"),
    ("linear_betas", lambda: gdiff.linear_betas(0), ValueError, "T must be an integer >= 1"),
    ("cosine_betas", lambda: gdiff.cosine_betas(-3), ValueError, "T must be"),
    ("Schedule", lambda: gdiff.Schedule(torch.tensor([0.5, 1.5])), ValueError, "values in (0, 1)"),
    ("Schedule list", lambda: gdiff.Schedule([0.1, 0.2]), TypeError, "betas must be a torch.Tensor"),
    ("q_sample steps", lambda: gdiff.q_sample(SCHED, IMG, torch.tensor([0, 1, 2, 10])), ValueError,
     "0-based time steps in [0, 10)"),
    ("predict_x0 steps", lambda: gdiff.predict_x0(SCHED, IMG, torch.tensor([0.5] * 4), IMG), TypeError, "i must be"),
    ("diffusion_loss", lambda: gdiff.diffusion_loss(lambda x, i: x, SCHED, "x0"), TypeError, "x0 must be"),
    ("ddpm_step i", lambda: gdiff.ddpm_step(SCHED, IMG, 10, IMG), ValueError, "i must be an integer between 0 and 9"),
    ("ddim_step eta", lambda: gdiff.ddim_step(SCHED, IMG, 5, 2, IMG, eta=-0.1), ValueError, "eta must be"),
    ("ddim_step i_prev", lambda: gdiff.ddim_step(SCHED, IMG, 5, 7, IMG), ValueError, "i_prev must be"),
    ("ddpm_sample", lambda: gdiff.ddpm_sample(lambda x, i: x, SCHED, "x"), TypeError, "x_T must be"),
    ("ddim_timesteps", lambda: gdiff.ddim_timesteps(10, 0), ValueError, "steps must be an integer between 1 and 10"),
    ("ddim_sample eta", lambda: gdiff.ddim_sample(lambda x, i: x, SCHED, IMG, 2, eta=2), ValueError, "eta must be"),
    # --- flows, mixtures, VQ-VAE
    ("FlowConfig.dim=1", lambda: flow.FlowConfig(dim=1), ValueError, "FlowConfig.dim"),
    ("FlowConfig.scale_bound", lambda: flow.FlowConfig(scale_bound=0), ValueError, "FlowConfig.scale_bound"),
    ("RealNVP.log_prob points", lambda: flow.RealNVP(flow.FlowConfig(dim=2)).log_prob(torch.zeros(3, 3)), ValueError, "(N, 2)"),
    ("RealNVP.forward NaN", lambda: flow.RealNVP(flow.FlowConfig(dim=2))(torch.tensor([[float("nan"), 0.0]])), ValueError,
     "finite"),
    ("RealNVP.to_latent", lambda: flow.RealNVP(flow.FlowConfig(dim=2)).to_latent(torch.zeros(2)), ValueError, "(N, 2)"),
    ("RealNVP.inverse", lambda: flow.RealNVP(flow.FlowConfig(dim=2)).inverse(torch.zeros(2, 2, dtype=torch.long)),
     TypeError, "floating-point"),
    ("RealNVP.sample", lambda: flow.RealNVP(flow.FlowConfig(dim=2)).sample(-1), ValueError, "n must be"),
    ("AffineCoupling.forward", lambda: flow.AffineCoupling(torch.tensor([1.0, 0.0]), 4, 1.0)(torch.zeros(2, 3)), ValueError,
     "points of shape (N, 2)"),
    ("GMMConfig", lambda: gmm.GMMConfig(n_components=0), ValueError, "GMMConfig.n_components"),
    ("GaussianMixture.log_prob points", lambda: gmm.GaussianMixture(gmm.GMMConfig(dim=2)).log_prob(torch.zeros(3)), ValueError,
     "points of shape (N, 2)"),
    ("GaussianMixture.component_log_prob", lambda: gmm.GaussianMixture(gmm.GMMConfig(dim=2)).component_log_prob(
        torch.zeros(3, 3)), ValueError, "(N, 2)"),
    ("GaussianMixture.forward", lambda: gmm.GaussianMixture(gmm.GMMConfig(dim=2))(torch.zeros(0, 2)), ValueError,
     "at least one element"),
    ("GaussianMixture.init_from_data", lambda: gmm.GaussianMixture(gmm.GMMConfig(dim=2)).init_from_data(torch.zeros(3, 2)),
     ValueError, "at least 8 points"),
    ("GaussianMixture.sample", lambda: gmm.GaussianMixture(gmm.GMMConfig(dim=2)).sample(0), ValueError, "n must be"),
    ("VQVAEConfig", lambda: vqvae.VQVAEConfig(codebook_size=0), ValueError, "VQVAEConfig.codebook_size"),
    ("VQVAE.forward 0-255", lambda: small_vq()(IMG * 255), ValueError, "divide by 255"),
    ("VQVAE labels ignored", lambda: small_vq()(IMG, Y), ValueError, "unconditional"),
    ("VQVAE.losses", lambda: small_vq().losses(IMG * 2 - 1), ValueError, "(x + 1) / 2"),
    ("VQVAE.encode", lambda: small_vq().encode(torch.rand(2, 784)), ValueError, "(N, 1, 28, 28)"),
    ("VQVAE.decode_indices", lambda: small_vq().decode_indices(torch.full((1, 7, 7), 4)), ValueError, "[0, 4)"),
    ("VectorQuantizer.forward", lambda: vqvae.VectorQuantizer(4, 2)(torch.zeros(2, 3)), ValueError, "z_e must be"),
    ("CodePrior smoothing=0", lambda: vqvae.CodePrior(torch.zeros(2, 7, 7, dtype=torch.long), 4, smoothing=0),
     ValueError, "smoothing must be"),
    ("CodePrior codes range", lambda: vqvae.CodePrior(torch.full((2, 7, 7), 5), 4), ValueError, "[0, 4)"),
    ("CodePrior.log_prob", lambda: vqvae.CodePrior(torch.zeros(2, 7, 7, dtype=torch.long), 4).log_prob(
        torch.zeros(2, 5, 5, dtype=torch.long)), ValueError, "the prior's"),
    ("CodePrior.sample", lambda: vqvae.CodePrior(torch.zeros(2, 7, 7, dtype=torch.long), 4).sample(0), ValueError,
     "n must be"),
    # --- metrics
    ("check_images 0-255", lambda: metrics.check_images(IMG * 255), ValueError, "divide by 255"),
    ("ReferenceCNN.forward", lambda: metrics.ReferenceCNN()(torch.rand(2, 784)), ValueError, "(N, 1, 28, 28)"),
    ("ReferenceCNN.features", lambda: metrics.ReferenceCNN().features(IMG * 255), ValueError, "divide by 255"),
    ("classify empty", lambda: metrics.classify(metrics.ReferenceCNN(), torch.zeros(0, 1, 28, 28)), ValueError,
     "at least one element"),
    ("accuracy labels", lambda: metrics.accuracy(metrics.ReferenceCNN(), IMG, torch.tensor([0, 1, 2, 99])), ValueError,
     "labels in [0, 10)"),
    ("accuracy lengths", lambda: metrics.accuracy(metrics.ReferenceCNN(), IMG, Y[:2]), ValueError, "one label per input"),
    ("reference_classifier dataset", lambda: metrics.reference_classifier("cifar10"), ValueError, "dataset must be one of"),
    ("confident_rate logits", lambda: metrics.confident_rate(torch.tensor([[2.0, -1.0]])), ValueError,
     "logits.softmax(1)"),
    ("confident_rate empty", lambda: metrics.confident_rate(torch.zeros(0, 10)), ValueError, "at least one"),
    ("confident_rate threshold", lambda: metrics.confident_rate(PROBS, threshold=0), ValueError, "threshold"),
    ("class_counts logits", lambda: metrics.class_counts(PROBS * 3), ValueError, "probabilities"),
    ("class_coverage", lambda: metrics.class_coverage(torch.zeros(3)), ValueError, "probs must be"),
    ("gaussian_stats one row", lambda: metrics.gaussian_stats(torch.zeros(1, 3)), ValueError, "at least 2 samples"),
    ("frechet_distance nan", lambda: metrics.frechet_distance([float("nan")], [[1.0]], [0.0], [[1.0]]), ValueError,
     "finite"),
    ("classifier_fid one sample", lambda: metrics.classifier_fid(FEATS, FEATS[:1]), ValueError,
     "fake_features must be at least 2 samples"),
    ("classifier_fid sizes", lambda: metrics.classifier_fid(FEATS, torch.randn(20, 4)), ValueError, "same size"),
    ("precision_recall few", lambda: metrics.precision_recall(FEATS, FEATS[:3]), ValueError, "at least 4 samples"),
    ("precision_recall k", lambda: metrics.precision_recall(FEATS, FEATS, k=0), ValueError, "k must be"),
    ("evaluate_samples [-1, 1]", lambda: metrics.evaluate_samples(metrics.ReferenceCNN(), IMG * 2 - 1, IMG), ValueError,
     "(x + 1) / 2"),
    ("mode_coverage empty", lambda: metrics.mode_coverage(torch.zeros(0, 2), torch.zeros(8, 2), 0.1), ValueError,
     "An empty set would cover no mode"),
    ("mode_coverage NaN", lambda: metrics.mode_coverage(torch.full((5, 2), float("nan")), torch.zeros(8, 2), 0.1),
     ValueError, "finite points"),
    ("mode_coverage std", lambda: metrics.mode_coverage(torch.zeros(5, 2), torch.zeros(8, 2), 0.0), ValueError, "std"),
    ("format_table empty", lambda: metrics.format_table({}), ValueError, "rows must be a non-empty dict"),
    ("format_table text", lambda: metrics.format_table({"a": {"x": "1.0"}}), TypeError, "numbers in every column"),
    ("format_table columns", lambda: metrics.format_table({"a": {"x": 1.0}, "b": {"y": 2.0}}), ValueError,
     "the same columns"),
    # --- curation (Chapter 6's data transformations)
    ("subsample", lambda: curation.subsample(10, 11), ValueError, "n must be an integer between 1 and 10"),
    ("per_class", lambda: curation.per_class(torch.tensor([0, 1]), 2, 2), ValueError, "smallest class"),
    ("long_tail", lambda: curation.long_tail(Y, 1.5, 10), ValueError, "rho must be"),
    ("class_histogram", lambda: curation.class_histogram(Y, 3), ValueError, "class labels in [0, 3)"),
    ("total_variation", lambda: curation.total_variation(torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5])),
     ValueError, "summing to 1"),
    ("balanced_sample", lambda: curation.balanced_sample(Y.float(), 5, 10), TypeError, "dtype torch.long"),
    ("corrupt_images", lambda: curation.corrupt_images(IMG * 255, 0.1), ValueError, "divide by 255"),
    ("flip_labels", lambda: curation.flip_labels(Y, 0.1, 1), ValueError, "class labels in [0, 1)"),
    ("plant_duplicates", lambda: curation.plant_duplicates(IMG, torch.tensor([9]), 2), ValueError, "indices in [0, 4)"),
    ("exact_duplicates", lambda: curation.exact_duplicates([1, 2]), TypeError, "x must be a torch.Tensor"),
    ("near_duplicates", lambda: curation.near_duplicates(IMG, 0.1), ValueError, "feature vectors (N, D)"),
    ("nearest_distance", lambda: curation.nearest_distance(IMG, torch.rand(3, 5)), ValueError, "the same size"),
    ("center_of_mass", lambda: curation.center_of_mass(torch.rand(3, 28, 28)), ValueError, "images (N, C, H, W)"),
    ("translate", lambda: curation.translate(IMG, torch.zeros(3, 2, dtype=torch.long)), ValueError, "one (row, column)"),
    ("diff_augment", lambda: curation.diff_augment(IMG, max_shift=30), ValueError, "max_shift must be"),
    ("rotate", lambda: curation.rotate(IMG, torch.tensor([10.0])), ValueError, "one angle per image (4)"),
    ("orientation", lambda: curation.orientation(IMG * 255), ValueError, "divide by 255"),
    ("PCA.fit", lambda: curation.PCA.fit(IMG, 0), ValueError, "d must be an integer between 1 and 784"),
    ("PCA.encode", lambda: curation.PCA.fit(IMG, 2).encode(IMG[:, :, :14]), ValueError, "as the PCA was fitted on"),
    ("PCA.decode", lambda: curation.PCA.fit(IMG, 2).decode(torch.randn(3, 5)), ValueError, "features of size 2"),
    ("class_gaussians", lambda: curation.class_gaussians(FEATS, torch.zeros(19, dtype=torch.long), 2), ValueError,
     "one of the class labels per example (20)"),
    ("label_issues", lambda: curation.label_issues(FEATS, torch.arange(20) % 2, 2, threshold=1.5), ValueError,
     "threshold must be"),
    ("GaussianMixture.responsibilities", lambda: gmm.GaussianMixture(gmm.GMMConfig(dim=3)).responsibilities(torch.rand(4, 2)),
     ValueError, "x must be"),
    ("write_measurement", lambda: pretrained.write_measurement("a/b", "cmd", {"x": 1}, 1.0), ValueError,
     "no path, no .json"),
    ("few_shot_indices", lambda: presets.few_shot_indices(100), ValueError, "n_train must be an integer >= 256"),
    ("GANConfig.augment", lambda: gan.GANConfig(augment="all"), ValueError, "GANConfig.augment must be one of"),
    ("GANConfig.augment mlp", lambda: gan.GANConfig(arch="mlp", augment="both"), ValueError, 'arch="mlp"'),
    # --- runtime, presets, pretrained weights, utils, plots, self-checks, student copies
    ("runtime device", lambda: runtime.runtime("gpu0"), ValueError, "device must be 'cpu', 'cuda'"),
    ("preset", lambda: runtime.preset({"quick": 1}, runtime.runtime("cpu")), KeyError, "presets lack the profiles"),
    ("shakespeare_gpt_checkpoint", lambda: presets.shakespeare_gpt_checkpoint("fast"), ValueError, "profile must be one of"),
    ("build_pretrained", lambda: presets.build_pretrained("ch99"), ValueError, "name must be one of"),
    ("build_pretrained list", lambda: presets.build_pretrained(["ch04_dcgan"]), ValueError, "name must be one of"),
    ("load_pretrained unknown", lambda: pretrained.load_pretrained(small_vae(), "ch99"), gt.CheckpointError,
     "no pretrained weights"),
    ("load_pretrained path", lambda: pretrained.load_pretrained(small_vae(), "weights/ch04_dcgan.pt"), ValueError,
     "a recipe name"),
    ("export_weights missing", lambda: pretrained.export_weights("/nonexistent.pt", "/tmp/genai_out.pt"),
     gt.CheckpointError, "no checkpoint"),
    ("export_weights in place", lambda: pretrained.export_weights("/tmp/a.pt", "/tmp/./a.pt"), ValueError,
     "another file than the checkpoint"),
    ("seed_everything", lambda: utils.seed_everything(-1), ValueError, "seed must be an integer between 0"),
    ("count_parameters", lambda: utils.count_parameters("model"), TypeError, "model must be a torch.nn.Module"),
    ("glue name", lambda: utils.glue("bad name!", 1.0), ValueError, "a glue key"),
    ("image_grid", lambda: plot.image_grid(torch.rand(2, 3, 28, 28)), ValueError, "single-channel"),
    ("source_text", lambda: utils.source_text(42), TypeError, "functions, methods or classes"),
    ("show_source", lambda: utils.show_source(), ValueError, "at least one function"),
    ("config_text", lambda: utils.config_text(dict(a=1)), TypeError, "cfg must be a config instance"),
    ("or_reference", lambda: check.or_reference(len, "no_such_exercise"), ValueError, "name must be one of"),
    ("solution_blocks", lambda: student.solution_blocks(42), TypeError, "source must be"),
    ("plain_exercises", lambda: student.plain_exercises(42), TypeError, "markdown must be"),
    ("replay_order", lambda: student.replay_order([]), TypeError, "nb must be a notebook"),
    ("grade_directory", lambda: grade.grade_directory("/no/such/dir", "/tmp/g.csv"), FileNotFoundError,
     "submissions must be a directory"),
    ("grade_notebook", lambda: grade.grade_notebook("/no/such.ipynb", "x"), FileNotFoundError, "path must be a"),
    ("expected_checks", lambda: grade.expected_checks([]), TypeError, "nb must be a notebook"),
    ("rng_devices", lambda: utils.rng_devices("tpu"), ValueError, "device must be 'cpu', 'cuda'"),
    ("fork_rng", lambda: utils.fork_rng("gpu").__enter__(), ValueError, "device must be 'cpu', 'cuda'"),
    ("config_text width", lambda: utils.config_text(gt.TrainConfig(), width=5), ValueError, "width must be"),
    ("tile", lambda: plot.tile(torch.rand(0, 1, 28, 28)), ValueError, "non-empty batch"),
    ("image_panels", lambda: plot.image_panels([torch.rand(2, 1, 28, 28)]), ValueError, "non-empty dict"),
    ("image_rows", lambda: plot.image_rows([torch.rand(2, 1, 28, 28)]), ValueError, "non-empty dict"),
    ("scatter_2d", lambda: plot.scatter_2d(torch.rand(5, 3)), ValueError, "(N, 2)"),
    ("loss_curve", lambda: plot.loss_curve(gt.History(), keys=["nope"]), KeyError, "nope"),
    ("smooth", lambda: plot.smooth("abc", 2), ValueError, "could not convert"),
    ("strip_solutions misspelt", lambda: student.strip_solutions("## Begin Solution\nx\n## End Solution\n"),
     ValueError, "looks like a solution marker"),
    ("strip_solutions typo", lambda: student.strip_solutions("### BEGIN SOLUTOIN\nx\n### END SOLUTOIN\n"),
     ValueError, "looks like a solution marker"),
    ("strip_solutions underscore", lambda: student.strip_solutions("# BEGIN_SOLUTION\nx\n# END_SOLUTION\n"),
     ValueError, "looks like a solution marker"),
    ("strip_solutions unbalanced", lambda: student.strip_solutions("### BEGIN SOLUTION\nx\n"), ValueError,
     "without a matching END"),
    ("student_notebook", lambda: student.student_notebook({"cells": [{"cell_type": "code", "metadata": {},
                                                                       "source": "### END SOLUTION\n"}]}),
     ValueError, "without a matching BEGIN"),
    ("make_student_copies missing", lambda: student.make_student_copies("/nonexistent", "/tmp/x"), FileNotFoundError,
     "does not exist"),
    ("make_student_copies in place", lambda: student.make_student_copies(NOTEBOOKS, NOTEBOOKS / "."), ValueError,
     "overwrite the instructor's notebooks"),
    # --- image metrics and diffusion editing (Chapter 7c)
    ("psnr", lambda: metrics.psnr(IMG, IMG[:2]), ValueError, "one reference image per image"),
    ("ssim", lambda: metrics.ssim(IMG, IMG, window=40), ValueError, "window must be an integer between 3 and 28"),
    ("mask_projection", lambda: editing.mask_projection(torch.full((1, 1, 28, 28), 0.5)), ValueError,
     "values 0 (generate) or 1 (known)"),
    ("downsample_projection", lambda: editing.downsample_projection(3)(IMG), ValueError,
     "factor must be a divisor of the image size"),
    ("conditioned_sample", lambda: editing.conditioned_sample(lambda x, i: x, SCHED, IMG, lambda x: x,
                                                              torch.randn(2, 1, 28, 28)), ValueError,
     "x_T must be noise of the same shape as known"),
    ("noise_level_step", lambda: editing.noise_level_step(SCHED, 0.0), ValueError, "sigma must be a finite number in"),
    ("noise_level_step beyond the schedule", lambda: editing.noise_level_step(SCHED, 1e12), ValueError,
     "at most the last step's level"),
    ("conditioned_sample on [0, 255] images", lambda: editing.conditioned_sample(
        lambda x, i: x, SCHED, IMG * 255, lambda x: x, torch.randn(4, 1, 28, 28)), ValueError, "2 * x - 1"),
    ("conditioned_sample without a projection", lambda: editing.conditioned_sample(
        lambda x, i: x, SCHED, IMG, None, torch.randn(4, 1, 28, 28)), TypeError, "project must be a projection"),
    ("sdedit", lambda: editing.sdedit(lambda x, i: x, SCHED, IMG, start=10), ValueError,
     "start must be an integer between 0 and 9"),
    ("denoise", lambda: editing.denoise(lambda x, i: x, SCHED, IMG, sigma=0.5, steps=0), ValueError,
     "steps must be an integer >= 1"),
    # --- synthetic tabular records
    ("load_breast_cancer_split", lambda: tabular.load_breast_cancer_split(test_size=30), ValueError,
     "test_size must be a finite number in (0, 1)"),
    ("TabularGenerator.fit 1-D x", lambda: tabular.GaussianCopula().fit(np.ones(6), np.arange(6) % 2), ValueError,
     "x must be a table (N, D) with 2 dimensions"),
    ("TabularGenerator.fit NaN", lambda: tabular.GaussianCopula().fit(np.full((6, 3), np.nan), np.arange(6) % 2),
     ValueError, "x must be finite (no NaN or inf)"),
    ("TabularGenerator.fit tensor", lambda: tabular.CopyOfTraining().fit(torch.ones(6, 3), np.arange(6) % 2),
     TypeError, "x must be a NumPy array (N, D), got Tensor"),
    ("TabularGenerator.fit strings", lambda: tabular.CopyOfTraining().fit(np.full((6, 3), "a"), np.arange(6) % 2),
     TypeError, "x must be an array of real numbers"),
    ("TabularGenerator.fit float labels", lambda: tabular.IndependentMarginals().fit(np.ones((6, 3)), np.ones(6)),
     TypeError, "y must be a NumPy array of integer class labels 0..K-1"),
    ("TabularGenerator.fit label count", lambda: tabular.IndependentMarginals().fit(np.ones((6, 3)), np.arange(5) % 2),
     ValueError, "one label per record, shape (6,)"),
    ("TabularGenerator.fit labels 1..2", lambda: tabular.GaussianCopula().fit(np.ones((6, 3)), np.arange(6) % 2 + 1),
     ValueError, "at least 2 records of every class"),
    ("TabularGenerator.fit labels -1", lambda: tabular.TabularVAE(steps=1).fit(np.ones((6, 3)), np.arange(6) % 2 - 1),
     ValueError, "y must be class labels 0..K-1"),
    ("GaussianMixtureGenerator.fit", lambda: tabular.GaussianMixtureGenerator(5).fit(np.ones((6, 3)), np.arange(6) % 2),
     ValueError, "at least 5 records of every class"),
    ("GaussianMixtureGenerator n_components", lambda: tabular.GaussianMixtureGenerator(0), ValueError,
     "n_components must be an integer >= 1"),
    ("IndependentMarginals smoothing", lambda: tabular.IndependentMarginals(smoothing=-1), ValueError, "smoothing"),
    ("TabularGenerator.sample before fit", lambda: tabular.GaussianCopula().sample(5), RuntimeError,
     "GaussianCopula must be fitted before sampling"),
    ("TabularVAE.sample before fit", lambda: tabular.TabularVAE().sample(5), RuntimeError, "Call .fit(x_train, y_train)"),
    ("TabularGenerator.sample n=0", lambda: tabular.CopyOfTraining().fit(np.ones((6, 3)), np.arange(6) % 2).sample(0),
     ValueError, "n must be an integer >= 1"),
    ("TabularVAEConfig.steps=0", lambda: tabular.TabularVAEConfig(steps=0), ValueError, "TabularVAEConfig.steps"),
    ("TabularVAEConfig.lr=0", lambda: tabular.TabularVAEConfig(lr=0), ValueError, "TabularVAEConfig.lr"),
    ("TabularVAE latent_dim", lambda: tabular.TabularVAE(latent_dim=0), ValueError, "TabularVAEConfig.latent_dim"),
    ("ks_statistics columns", lambda: tabular.ks_statistics(np.ones((6, 3)), np.ones((6, 4))), ValueError,
     "synthetic must be records with 3 features (as the other table)"),
    ("ks_statistics empty", lambda: tabular.ks_statistics(np.ones((6, 3)), np.ones((0, 3))), ValueError,
     "at least one row"),
    ("correlation_gap constant column", lambda: tabular.correlation_gap(np.ones((6, 3)), np.ones((6, 3))), ValueError,
     "no constant column"),
    ("correlation_gap one feature", lambda: tabular.correlation_gap(np.ones((6, 1)), np.ones((6, 1))), ValueError,
     "at least 2 features"),
    ("tstr one class", lambda: tabular.tstr(np.ones((6, 3)), np.zeros(6, dtype=int), np.ones((4, 3)),
                                            np.arange(4) % 2), ValueError, "y_synth must be labels of at least 2 classes"),
    ("tstr y_test", lambda: tabular.tstr(np.ones((6, 3)), np.arange(6) % 2, np.ones((4, 3)), np.arange(3) % 2),
     ValueError, "y_test must be one label per record, shape (4,)"),
    ("distance_to_closest_record", lambda: tabular.distance_to_closest_record(np.ones((2, 3)), np.ones((6, 2))),
     ValueError, "queries must be records with 2 features"),
    ("privacy_check holdout = train", lambda: tabular.privacy_check(np.ones((6, 3)), np.ones((6, 3)), np.ones((6, 3))),
     ValueError, "x_holdout must be real records that are not in x_train"),
    ("privacy_check columns", lambda: tabular.privacy_check(np.ones((6, 3)), np.ones((6, 3)), np.ones((6, 2))),
     ValueError, "x_synth must be records with 3 features"),
    ("membership_inference_auroc", lambda: tabular.membership_inference_auroc(np.ones((0, 3)), np.ones((6, 3)),
                                                                              np.ones((6, 3))), ValueError,
     "x_members must be a table with at least one row"),
]


# Valid input that must keep working (each was refused by a first version of the checks).
VALID = [
    ("GPT.generate crops a long prompt", lambda: small_gpt().generate(torch.zeros(1, 12, dtype=torch.long), 2)),
    ("NumPy integers and floats", lambda: (gt.TrainConfig(steps=np.int64(10), lr=np.float32(1e-3)),
                                           gd.Batches(IMG, batch_size=np.int64(2)), small_vae().sample(np.int64(2)))),
    ("float64 images in metrics", lambda: metrics.classify(metrics.ReferenceCNN(), IMG.double())),
    ("3-D images in metrics", lambda: metrics.classify(metrics.ReferenceCNN(), IMG[:, 0])),
    ("int32 labels for a conditional GAN", lambda: small_gan(n_classes=10).sample(y=Y.int())),
    ("float64 points in a mixture", lambda: gmm.GaussianMixture(gmm.GMMConfig(dim=2)).log_prob(torch.zeros(3, 2).double())),
    ("Batches of a 1-D tensor", lambda: next(gd.Batches(torch.arange(10.0), batch_size=5))),
    ("guidance 0 on a conditional diffusion model", lambda: small_diffusion(10).sample(y=Y, steps=2, guidance=0.0)),
    ("GAN with a latent code", lambda: small_gan(latent_codes=10).sample(3)),
]


@pytest.mark.parametrize("call", [v[1] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_input_is_accepted(call):
    call()


def test_config_fields_are_stored_as_python_numbers():
    cfg = gt.TrainConfig(steps=np.int64(10), lr=np.float32(1e-3))
    assert type(cfg.steps) is int and type(cfg.lr) is float


@pytest.mark.parametrize("call, error, fragment", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_gets_one_clear_error(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value), str(info.value)


def test_the_table_has_one_row_per_public_function():
    """A public function added without a bad-input row fails here (self-checks never raise:
    they report a wrong answer, tested below)."""
    import inspect

    modules = [gt, gd, metrics, music, audio, ngram, plot, poetry, video, wavenet, presets, pretrained, runtime, student, utils, curation, tabular, editing, grade,
               vae, gpt, rnn, lora, gan, gdiff, unet, flow, gmm, vqvae]
    exempt = {  # nothing to get wrong, or checked through the row of the class they belong to
        "default_optimizers", "default_training_step", "model_identity", "check_compatible", "check_finite_weights",
        "cache_dir", "sha256", "load_fashion_mnist", "load_digits", "from_scratch", "checksums",
        "pick_device", "pick_amp_dtype", "pick_profile", "main", "use_style",
        # network bodies built from a GANConfig, which checks every field
        "mlp_generator_body", "dc_generator_body", "mlp_discriminator_body", "dc_discriminator_body",
    }
    names = {name for m in modules for name, obj in vars(m).items()
             if inspect.isfunction(obj) and obj.__module__ == m.__name__ and not name.startswith("_")}
    method_exempt = {  # no input to get wrong, internal to a validated caller, or tested in test_train.py
        "TrainConfig.resumable_changes", "Runtime.describe", "LoRALinear.merged", "GaussianMixture.scale_tril",
        "Batches.state_dict", "Batches.load_state_dict", "TextBatches.state_dict", "TextBatches.load_state_dict",
        "GPT.embed", "Schedule.at", "GAN.configure_optimizers", "GAN.noise", "GAN.codes", "GAN.update_ema",
        "Diffusion.training_step",
        # layers inside a model whose public methods check the input first
        "CausalSelfAttention.forward", "Block.forward", "ResBlock.forward", "LoRALinear.forward",
        "AffineCoupling.inverse",
    }
    for m in modules:
        for cname, cls in vars(m).items():
            if inspect.isclass(cls) and cls.__module__ == m.__name__:
                names |= {f"{cname}.{n}" for n, f in vars(cls).items() if inspect.isfunction(f) and not n.startswith("_")}
    covered = " ".join(r[0] for r in ROWS)
    missing = sorted(n for n in names - exempt - method_exempt if n not in covered)
    assert not missing, f"add a bad-input row for {missing}"


def test_self_checks_report_bad_input_instead_of_raising():
    result = check.gaussian_kl(42)  # not a function
    assert not result.passed and "raised TypeError" in result.message


def test_make_student_copies_refuses_misspelt_markers_before_writing(tmp_path):
    src = bad_notebook(tmp_path)
    with pytest.raises(ValueError, match="looks like a solution marker"):
        student.make_student_copies(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
