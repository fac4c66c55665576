import pytest
import torch

from genai_lib import runtime
from genai_lib.utils import count_parameters, seed_everything


def test_profile_follows_the_device_and_the_variable(monkeypatch):
    monkeypatch.delenv("GENAI_PROFILE", raising=False)
    assert runtime.pick_profile(torch.device("cpu")) == "quick"
    assert runtime.pick_profile(torch.device("cuda")) == "full"
    monkeypatch.setenv("GENAI_PROFILE", "full")
    assert runtime.runtime("cpu").profile == "full"
    monkeypatch.setenv("GENAI_PROFILE", "fast")
    with pytest.raises(ValueError, match="GENAI_PROFILE"):
        runtime.runtime("cpu")


def test_cpu_runs_in_float32(monkeypatch):
    monkeypatch.delenv("GENAI_PROFILE", raising=False)
    rt = runtime.runtime("cpu")
    assert rt.amp_dtype is None and not rt.use_grad_scaler
    assert "device: cpu" in rt.describe() and "float32" in rt.describe() and "quick" in rt.describe()


def test_preset_picks_the_profile_and_demands_both(monkeypatch):
    monkeypatch.setenv("GENAI_PROFILE", "quick")
    rt = runtime.runtime("cpu")
    assert runtime.preset({"quick": 1, "full": 2}, rt) == 1
    with pytest.raises(KeyError, match="full"):
        runtime.preset({"quick": 1}, rt)


def test_seed_everything_reproduces():
    import random

    import numpy as np
    seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_count_parameters():
    m = torch.nn.Linear(3, 2)
    assert count_parameters(m) == 8
    m.bias.requires_grad_(False)
    assert count_parameters(m) == 6 and count_parameters(m, trainable_only=False) == 8


def test_glue_is_a_no_op_without_myst_nb(monkeypatch):
    import builtins

    from genai_lib.utils import glue
    real_import = builtins.__import__

    def no_myst(name, *args, **kwargs):
        if name.startswith("myst_nb"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_myst)
    assert glue("x", 1.0) is None


def test_glue_passes_plain_python_numbers_to_the_book(monkeypatch):
    """NumPy and torch scalars are glued as Python numbers: the book's formatter read
    'np.float64(0.61)' as text and could not apply a format such as :.1%."""
    import sys
    import types

    import numpy as np

    from genai_lib.utils import glue
    seen = {}
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=False: seen.__setitem__(name, value)
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue("a", np.float64(0.25)); glue("b", torch.tensor(3)); glue("c", np.int64(7)); glue("d", "text")
    assert seen == {"a": 0.25, "b": 3, "c": 7, "d": "text"}
    assert type(seen["a"]) is float and type(seen["b"]) is int and type(seen["c"]) is int
