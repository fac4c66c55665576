import gzip
import hashlib

import numpy as np
import pytest
import torch

from genai_lib import data
from genai_lib.data import Batches, CharTokenizer, DataError


def write_idx(path, array: np.ndarray, compress=True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(raw)
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(data.read_idx(write_idx(tmp_path / "a.gz", a)), a)
    assert np.array_equal(data.read_idx(write_idx(tmp_path / "a.idx", a, compress=False)), a)


def test_read_idx_rejects_truncated_and_bad_magic(tmp_path):
    p = write_idx(tmp_path / "t.idx", np.zeros((4, 5), np.uint8), compress=False)
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(p)
    (tmp_path / "m.idx").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="magic"):
        data.read_idx(tmp_path / "m.idx")
    (tmp_path / "g.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot be read"):
        data.read_idx(tmp_path / "g.gz")


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A 6-image MNIST in $GENAI_DATA_DIR/mnist, with DATASETS' hashes set to match it."""
    root = tmp_path / "data" / "mnist"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = {}
    for prefix, n in (("train", 6), ("t10k", 4)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = write_idx(root / f"{prefix}-images-idx3-ubyte.gz",
                                                            rng.integers(0, 256, (n, 28, 28)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = write_idx(root / f"{prefix}-labels-idx1-ubyte.gz",
                                                            np.arange(n) % 10)
    spec = {"mirrors": ["https://example.invalid/"], "files": {k: sha(p) for k, p in files.items()}}
    monkeypatch.setitem(data.DATASETS, "mnist", spec)
    monkeypatch.setenv("GENAI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENAI_CACHE_DIR", str(tmp_path / "cache"))
    return root


def test_load_mnist_from_local_dir(tiny_mnist):
    x, y = data.load_mnist("train")
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    assert y.tolist() == [0, 1, 2, 3, 4, 5]
    assert data.load_mnist("test")[0].shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")


def test_checksum_mismatch_is_a_clear_error(tiny_mnist):
    p = tiny_mnist / "train-labels-idx1-ubyte.gz"
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip one byte in the middle
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="(?s)corrupt.*SHA-256.*Delete it"):
        data.load_mnist("train")


def test_offline_without_data_names_the_variable_and_urls(offline):
    with pytest.raises(DataError) as e:
        data.fetch("mnist", "t10k-labels-idx1-ubyte.gz")
    msg = str(e.value)
    assert "GENAI_DATA_DIR" in msg
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz" in msg


def test_unknown_dataset_and_file():
    with pytest.raises(DataError, match="unknown dataset"):
        data.fetch("imagenet", "x")
    with pytest.raises(DataError, match="has no file"):
        data.fetch("mnist", "x")


def test_download_goes_through_pooch_with_the_sha256(offline, monkeypatch):
    seen = {}

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        seen.update(url=url, known_hash=known_hash)
        target = path / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("x")
        return str(target)

    import pooch
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    p = data.fetch("tinyshakespeare", "input.txt")
    assert p.exists()
    assert seen["known_hash"] == "sha256:" + data.DATASETS["tinyshakespeare"]["files"]["input.txt"]
    assert seen["url"].endswith("/input.txt")


def test_batches_visit_every_example_once_per_epoch():
    x = torch.arange(10)
    b = Batches(x, x * 2, batch_size=3, seed=0, drop_last=False)
    assert len(b) == 4
    epoch = [next(b) for _ in range(len(b))]
    seen = torch.cat([xb for xb, _ in epoch])
    assert sorted(seen.tolist()) == list(range(10))
    assert all(torch.equal(yb, xb * 2) for xb, yb in epoch)  # tensors stay aligned
    second = torch.cat([next(b)[0] for _ in range(len(b))])
    assert sorted(second.tolist()) == list(range(10)) and not torch.equal(seen, second)


def test_batches_drop_last_and_state_roundtrip():
    x = torch.arange(10)
    b = Batches(x, batch_size=4, seed=3)
    assert len(b) == 2
    for _ in range(3):
        next(b)
    state = b.state_dict()
    expected = [next(b)[0] for _ in range(5)]
    c = Batches(x, batch_size=4, seed=3)
    c.load_state_dict(state)
    assert all(torch.equal(e, next(c)[0]) for e in expected)
    with pytest.raises(ValueError, match="same first dimension"):
        Batches(x, torch.arange(3), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        Batches(x, batch_size=11)


def test_char_tokenizer():
    tok = CharTokenizer.from_text("hello world")
    assert tok.vocab_size == len(set("hello world"))
    assert tok.decode(tok.encode("low droll")) == "low droll"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("xyz")
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([0, 99])


def test_shakespeare_split_is_fixed(tmp_path, monkeypatch):
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 10
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(text)
    spec = {"mirrors": [], "files": {"input.txt": hashlib.sha256(text.encode()).hexdigest()}}
    monkeypatch.setitem(data.DATASETS, "tinyshakespeare", spec)
    monkeypatch.setenv("GENAI_DATA_DIR", str(tmp_path))
    train, val, tok = data.load_shakespeare()
    assert len(train) == int(len(text) * 0.9) and len(train) + len(val) == len(text)
    assert tok.decode(torch.cat([train, val])) == text


def test_load_digits():
    x, y = data.load_digits()
    assert x.shape == (1797, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert set(y.tolist()) == set(range(10))
