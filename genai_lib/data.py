"""Data: the first two steps of the AIGC pipeline (collect, then process).

Every dataset comes from a canonical public mirror, verified by SHA-256, or from a local
directory named by ``GENAI_DATA_DIR`` (checked first, so an offline machine works once
the files are there). Images are read from the original IDX files with NumPy, and small
datasets live on the training device as tensors, served by :class:`Batches`.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .validate import check_finite, check_int, check_number, check_tensor, fail

DATA_ENV = "GENAI_DATA_DIR"
CACHE_ENV = "GENAI_CACHE_DIR"

# name -> (file -> sha256), with the mirrors tried in order. The checksums are those of
# the original files (shared/data/SHA256SUMS records the same values).
DATASETS: dict[str, dict] = {
    "mnist": {
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        "files": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion-mnist": {
        "mirrors": [
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ],
        "files": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    },
    "tinyshakespeare": {
        "mirrors": [
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",
        ],
        "files": {
            "input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        },
    },
    # The Tang poems of the chinese-poetry collection (MIT licence), at a fixed commit: 20 of the 58
    # files of the Complete Tang Poems (20,011 poems). genai_lib.poetry reads them.
    "chinese-poetry": {
        "mirrors": [
            "https://raw.githubusercontent.com/chinese-poetry/chinese-poetry/"
            "99ebbef7e1345c0985c44b9fd96a3f9e776f117b/%E5%85%A8%E5%94%90%E8%AF%97/",   # 全唐诗/
        ],
        "files": {
            "poet.tang.0.json": "4f88f429938082523cdc72a1612bd7a7c3e3f7a33f8192c61ae51340efc3c92d",
            "poet.tang.1000.json": "6e703b8d8dcedbd6110f6d48d043665ca2131db2035a5bfcef5e59a19aeb6d75",
            "poet.tang.2000.json": "ec28efa7e2ae9cdbbba09f0ed186e32ccae47a325ad1e5816b7ad56071c1665a",
            "poet.tang.3000.json": "9e4ba2323752b6b9fbdba875cdbc6a26636fe0cabc85fd066370d4915952001f",
            "poet.tang.4000.json": "b8a7946c879b9658a6c667a4c55f776fae7e5e00a17789ab06b274c1429afc66",
            "poet.tang.5000.json": "a0306e6962cff01639ad9a00b042a201b8dec1f30fa5d768a7b112589887861e",
            "poet.tang.6000.json": "982a21d2b15922b406911f1c825785054314c686da86b2155d7aebb362d22771",
            "poet.tang.7000.json": "a6fb69d7b4343c904dc56ae5aae34facc2478d196b51c37ceba9d1e2f171b342",
            "poet.tang.8000.json": "ac3848e95b02736168003863795de4474838c2d6a71a24ca2a4a280ea5177773",
            "poet.tang.9000.json": "b99d6596e3a1fe1a661652383083f92d196b8baf4e461d087081d5e1e1b7a51f",
            "poet.tang.10000.json": "b97d1c5509ab62f5b433dee2020c11c4deda4542e276683d1ada6619c34c2113",
            "poet.tang.11000.json": "9adf1835246053c821d99af39ce9092e14a94e1baf91740098bd9fc6f6f1cd27",
            "poet.tang.12000.json": "ec43d055a219d52ecdb58cd30a8a444189392f0d68b92a41495df1c72c5fd095",
            "poet.tang.13000.json": "eb9c85072d7913bb972e07c72f0123e9d7addca22cfd833cb79a5d74b1c76ebf",
            "poet.tang.14000.json": "1e366dd3fb5a011091524bed36e4edff5d015bf0ddb14143f298515387dbd9a9",
            "poet.tang.15000.json": "0386e58f46517daa3af0e0f385e0223f1efc0dac53afbe8fea64f99074d870b7",
            "poet.tang.16000.json": "1c477aef1fc50523f9baf10f29d2d89201a14c4c73001c1c041d0fe8464d11db",
            "poet.tang.17000.json": "11bac8333b2042975b9844423d113ff2c6fdf701c8b08a5b3aaa6bc9472222de",
            "poet.tang.18000.json": "37543a147d16e3576d5f45ba8f7b8b51fc311bc10eddae9440f16f2d5ae885c2",
            "poet.tang.19000.json": "dea74b41bc807ce2527bb119862a251e3a92b6f69bdf9f98b1434a8336830542",
        },
    },
}


class DataError(RuntimeError):
    """A dataset is missing, corrupt or malformed; the message says how to fix it."""


def cache_dir() -> Path:
    """Where downloads and derived files (e.g. the reference classifier) are kept."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "genai_lib"


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path, expected: str) -> Path:
    """Return ``path`` if its SHA-256 is ``expected``; else fail, never use the file."""
    got = sha256(path)
    if got != expected:
        raise DataError(
            f"{path} is corrupt or not the expected file: SHA-256 {got}, expected {expected}. "
            f"Delete it and run again to re-download (or replace it with a good copy)."
        )
    return path


def fetch(dataset: str, filename: str) -> Path:
    """The local path of one verified file of ``dataset``.

    Looks in ``$GENAI_DATA_DIR/<dataset>/`` first, then in the download cache, then
    downloads from the mirrors with pooch (which checks the hash). Offline with no copy
    anywhere, raises one :class:`DataError` naming the variable and the URLs.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)}")
    spec = DATASETS[dataset]
    if filename not in spec["files"]:
        raise DataError(f"{dataset} has no file {filename!r}; files: {sorted(spec['files'])}")
    expected = spec["files"][filename]

    local = os.environ.get(DATA_ENV)
    if local:
        for candidate in (Path(local) / dataset / filename, Path(local) / filename):
            if candidate.exists():
                return _verified(candidate, expected)

    target = cache_dir() / "data" / dataset
    if (target / filename).exists():
        return _verified(target / filename, expected)

    import pooch  # imported here: only a download needs it

    urls = [m + filename for m in spec["mirrors"]]
    errors = []
    for url in urls:
        try:
            path = pooch.retrieve(url, known_hash=f"sha256:{expected}", fname=filename,
                                  path=target, progressbar=False)
            return Path(path)
        except ValueError as e:  # pooch's hash mismatch: the mirror served another file
            errors.append(f"{url}: {e}")
        except Exception as e:  # network errors of every kind
            errors.append(f"{url}: {type(e).__name__}: {e}")
    raise DataError(
        f"Could not find or download {dataset}/{filename}.\n"
        f"  Offline? Put the file in $GENAI_DATA_DIR/{dataset}/ and set {DATA_ENV} "
        f"(now {local!r}).\n  Tried: " + "; ".join(errors)
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, into a NumPy array.

    Layout: two zero bytes, a type code (0x08 = uint8), the number of dimensions n,
    then n big-endian int32 sizes, then the data in C order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} cannot be read ({e}); delete it and fetch it again.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number {raw[:4]!r}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise DataError(f"{path} is truncated or padded: header says shape {shape}, "
                        f"but it holds {len(raw) - header} bytes of data.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(split: str = "train", dataset: str = "mnist",
               device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float in [0, 1] of shape (N, 1, 28, 28) and labels (N,) int64.

    ``dataset="fashion-mnist"`` reads Fashion-MNIST, which has the same format.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(fetch(dataset, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(fetch(dataset, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{dataset} {split}: images {images.shape} and labels {labels.shape} do not match.")
    x = torch.from_numpy(images.copy()).to(device).float().div_(255).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)
    return x, y


def load_fashion_mnist(split: str = "train", device: str | torch.device = "cpu"):
    """Fashion-MNIST, same shapes as :func:`load_mnist`."""
    return load_mnist(split, dataset="fashion-mnist", device=device)


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_digits(device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8x8 digits (1,797 images, no download): (N, 1, 8, 8) in [0, 1]."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = torch.tensor(d.images, dtype=torch.float32, device=device).div_(16).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.int64, device=device)
    return x, y


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2-D toy set: ``n`` points from an equal mixture of ``modes`` Gaussians on a circle.

    The standard test of mode collapse (Metz et al., 2017, use radius 2 and std 0.02): a
    generator that covers only some of the well-separated modes is easy to see and count.
    Returns the points (n, 2) and the mode centres (modes, 2).
    """
    check_int(n, "n", low=1)
    check_int(modes, "modes", low=1)
    check_number(radius, "radius", 0, low_open=True)
    check_number(std, "std", 0)
    angles = torch.arange(modes, dtype=torch.float32) * (2 * torch.pi / modes)
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    which = torch.randint(modes, (n,), generator=generator)
    return centres[which] + std * torch.randn(n, 2, generator=generator), centres


@dataclass(frozen=True)
class CharTokenizer:
    """Characters <-> integer ids; the vocabulary is the sorted set of characters seen."""

    chars: str

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown[:10]!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        if isinstance(ids, torch.Tensor):
            check_tensor(ids, "ids", ndim=1, floating=False, what="a 1-D sequence of token ids", nonempty=False)
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            fail("ids", "integer token ids", f"{[i for i in ids if not isinstance(i, int)][:3]}", error=TypeError)
        bad = [i for i in ids if not 0 <= i < len(self.chars)]
        if bad:
            raise ValueError(f"token ids out of range [0, {len(self.chars)}): {bad[:10]}")
        return "".join(self.chars[i] for i in ids)


def load_shakespeare(val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, CharTokenizer]:
    """Tiny Shakespeare as (train_ids, val_ids, tokenizer).

    The split is fixed: the first 90% of the text trains, the last 10% validates
    (the nanoGPT convention), so numbers are comparable across runs and chapters.
    """
    check_number(val_fraction, "val_fraction", 0, 1, low_open=True, high_open=True,
                 fix="0.1 keeps the last 10% of the text for validation")
    text = fetch("tinyshakespeare", "input.txt").read_text(encoding="utf-8")
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:], tok


class Batches:
    """Shuffled mini-batches of tensors that already live on the training device.

    Each epoch visits every example exactly once, in an order drawn from
    ``seed + epoch``, so the iterator's whole state is ``(epoch, position)``: a resumed
    run sees exactly the batches an uninterrupted run would. Infinite: it starts a new
    epoch when one ends. With ``drop_last`` the final short batch of an epoch is skipped.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int = 0,
                 drop_last: bool = True):
        if not tensors:
            raise ValueError("Batches needs at least one tensor, e.g. Batches(x, batch_size=128)")
        for k, t in enumerate(tensors):
            check_tensor(t, f"tensors[{k}]", what="a data tensor (N, ...)")
            if t.dim() == 0:
                fail(f"tensors[{k}]", "a data tensor with one row per example", "a 0-dimensional tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"all tensors need the same first dimension, got {[len(t) for t in tensors]}")
        check_int(batch_size, "batch_size", 1, n, fix=f"The data hold {n} examples")
        check_int(seed, "seed")
        if not isinstance(drop_last, bool):
            fail("drop_last", "True or False", repr(drop_last), error=TypeError)
        for k, t in enumerate(tensors):  # once, where the data enter (also on a GPU): no NaN reaches a model
            check_finite(t, f"tensors[{k}]", always=True)
        self.tensors, self.n, self.batch_size = tensors, n, batch_size
        self.seed, self.drop_last = seed, drop_last
        self.fingerprint = fingerprint(*tensors)
        self.epoch, self.pos = 0, 0
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.n, generator=g).to(self.tensors[0].device)

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, ...]:
        remaining = self.n - self.pos
        if remaining == 0 or (self.drop_last and remaining < self.batch_size):
            self.epoch, self.pos = self.epoch + 1, 0
            self._perm = self._permutation(self.epoch)
        idx = self._perm[self.pos: self.pos + self.batch_size]
        self.pos += len(idx)
        return tuple(t[idx] for t in self.tensors)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "seed": self.seed, "batch_size": self.batch_size,
                "drop_last": self.drop_last, "fingerprint": self.fingerprint}

    def load_state_dict(self, state: dict) -> None:
        _check_same_stream(state, self.state_dict())
        self.epoch, self.pos = state["epoch"], state["pos"]
        self._perm = self._permutation(self.epoch)


class TextBatches:
    """Random windows of a token sequence for next-token prediction: (x, y) with y = x shifted by one.

    Each batch draws ``batch_size`` start positions from a generator seeded with
    ``seed + batch index``, so the state is one integer and resumes exactly.
    """

    def __init__(self, ids: torch.Tensor, block_size: int, batch_size: int, seed: int = 0,
                 device: str | torch.device = "cpu"):
        check_tensor(ids, "ids", ndim=1, floating=False, what="a 1-D sequence of token ids")
        check_int(block_size, "block_size", low=1)
        check_int(batch_size, "batch_size", low=1)
        check_int(seed, "seed")
        if len(ids) <= block_size:
            fail("ids", f"a token sequence longer than block_size={block_size}", f"{len(ids)} tokens",
                 "Use a shorter block_size or more text")
        self.ids, self.block_size, self.batch_size = ids.to(device), block_size, batch_size
        self.seed, self.i = seed, 0
        self.fingerprint = fingerprint(ids)

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed + self.i)
        self.i += 1
        starts = torch.randint(len(self.ids) - self.block_size, (self.batch_size,), generator=g).to(self.ids.device)
        offsets = torch.arange(self.block_size, device=self.ids.device)
        x = self.ids[starts[:, None] + offsets]        # (B, T)
        y = self.ids[starts[:, None] + offsets + 1]    # (B, T), the next characters
        return x, y

    def state_dict(self) -> dict:
        return {"seed": self.seed, "i": self.i, "batch_size": self.batch_size, "block_size": self.block_size,
                "fingerprint": self.fingerprint}

    def load_state_dict(self, state: dict) -> None:
        _check_same_stream(state, self.state_dict())
        self.i = state["i"]


def fingerprint(*tensors: torch.Tensor) -> str:
    """A short hash that tells data sets apart: shapes, dtypes, the sum of the raw bytes and about
    65k values spread evenly over each tensor. The same on every device, and cheap enough (a
    fraction of a second for MNIST) that every batch iterator records it, so a checkpoint cannot
    silently resume on other data."""
    h = hashlib.sha256()
    for k, t in enumerate(tensors):
        check_tensor(t, f"tensors[{k}]", nonempty=False)
        flat = t.detach().reshape(-1).contiguous()
        wide = torch.float64 if flat.is_floating_point() else torch.int64
        sample = flat[:: max(1, flat.numel() // 65536)].to(wide).cpu().numpy()
        # the sum of the raw bytes: exact and independent of the device and of summation order
        byte_sum = flat.view(torch.uint8).sum(dtype=torch.int64).item()
        h.update(f"{tuple(t.shape)} {t.dtype} {byte_sum}".encode())
        h.update(sample.tobytes())
    return h.hexdigest()[:16]


def _check_same_stream(saved: dict, current: dict) -> None:
    """A resumed batch iterator must serve the batches the saved run would have: same seed, batch
    size and data. Keys an older checkpoint did not record are not compared."""
    names = {"fingerprint": "data (fingerprint)"}
    for key, now in current.items():
        if key in ("epoch", "pos", "i") or key not in saved or saved[key] == now:
            continue
        raise ValueError(f"the batch iterator's {names.get(key, key)} is {now!r}, the checkpoint's is {saved[key]!r}")
