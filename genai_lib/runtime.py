"""Where and how fast to run: device, precision and the chapter profile.

A notebook calls :func:`runtime` once and passes the result around explicitly; nothing
here is global state. The profile is ``quick`` on a CPU (a small model that trains in
about a minute on two cores) and ``full`` on a GPU, and ``GENAI_PROFILE`` forces either.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, TypeVar

import torch

PROFILE_ENV = "GENAI_PROFILE"
PROFILES = ("quick", "full")
T = TypeVar("T")


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype; None means plain float32
    profile: str

    @property
    def use_grad_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 and fp32 need none."""
        return self.amp_dtype == torch.float16

    def describe(self) -> str:
        name = self.device.type
        if self.device.type == "cuda":
            name = f"cuda ({torch.cuda.get_device_name(self.device)})"
        precision = {None: "float32", torch.bfloat16: "bfloat16 autocast",
                     torch.float16: "float16 autocast + GradScaler"}[self.amp_dtype]
        return f"device: {name} | precision: {precision} | profile: {self.profile}"


def pick_device() -> torch.device:
    """CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_amp_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the GPU has it natively (compute capability >= 8: A100, H100, L4),
    fp16 on older GPUs such as Colab's T4, float32 on CPU and MPS."""
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


def pick_profile(device: torch.device) -> str:
    forced = os.environ.get(PROFILE_ENV, "").strip().lower()
    if forced:
        if forced not in PROFILES:
            raise ValueError(f"{PROFILE_ENV}={forced!r} is not a profile; use one of {PROFILES}")
        return forced
    return "full" if device.type == "cuda" else "quick"


def runtime(device: str | torch.device | None = None) -> Runtime:
    """Device, precision and profile for this machine (``device`` overrides the choice)."""
    try:
        dev = torch.device(device) if device is not None else pick_device()
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from None
    return Runtime(device=dev, amp_dtype=pick_amp_dtype(dev), profile=pick_profile(dev))


def preset(presets: Mapping[str, T], rt: Runtime) -> T:
    """The chapter's configuration for the current profile."""
    missing = [p for p in PROFILES if p not in presets]
    if missing:
        raise KeyError(f"presets lack the profiles {missing}; every chapter defines {PROFILES}")
    return presets[rt.profile]
