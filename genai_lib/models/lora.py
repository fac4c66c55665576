"""LoRA: low-rank adapters for fine-tuning (Hu et al., 2022).

A frozen weight $W \\in \\mathbb R^{d_{out}\\times d_{in}}$ is adapted as $W + \\tfrac{\\alpha}{r} BA$ with
$A \\in \\mathbb R^{r\\times d_{in}}$, $B \\in \\mathbb R^{d_{out}\\times r}$ and $r \\ll \\min(d_{in}, d_{out})$:
only $A$ and $B$ are trained. $B$ starts at zero, so an adapted model starts equal to the
base model, and after training the update can be merged into $W$ at no inference cost.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..validate import check_int, check_number, fail


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            fail("base", "a torch.nn.Linear layer", type(base).__name__, error=TypeError)
        check_int(r, "r (the LoRA rank)", low=1)
        check_number(alpha, "alpha", 0, low_open=True, fix="alpha = 0 would switch the adapter off; try 2 * r")
        self.base, self.r, self.scale = base, r, alpha / r
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear initialises its weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # W x + b + (alpha / r) B A x
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.scale

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain Linear with weight $W + \\tfrac{\\alpha}{r}BA$: the same function, no adapter."""
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        out = out.to(self.base.weight.device, self.base.weight.dtype)
        out.weight.copy_(self.base.weight + self.scale * self.B @ self.A)
        if self.base.bias is not None:
            out.bias.copy_(self.base.bias)
        return out


def add_lora(model: nn.Module, r: int = 4, alpha: float = 8.0, targets: tuple[str, ...] = ("qkv", "proj", "fc", "out")) -> nn.Module:
    """Freeze every parameter of ``model`` and wrap the Linear layers named in ``targets`` with adapters."""
    if not isinstance(model, nn.Module):
        fail("model", "a torch.nn.Module", type(model).__name__, error=TypeError)
    if isinstance(targets, str) or not targets:
        fail("targets", "a non-empty tuple of layer names, e.g. ('qkv', 'proj')", repr(targets), error=TypeError)
    for p in model.parameters():
        p.requires_grad_(False)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and name in targets:
                setattr(parent, name, LoRALinear(child, r, alpha))
    if not any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError(f"no Linear layer named one of {targets} was found")
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by its merged Linear (in place); the function is unchanged."""
    if not isinstance(model, nn.Module):
        fail("model", "a torch.nn.Module", type(model).__name__, error=TypeError)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, name, child.merged())
    return model
