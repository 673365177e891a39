"""An 8-bit language model for the CPU: int8 weights with one scale per output row, multiplied by
PyTorch's own int8-weight kernel (``torch._weight_int8pack_mm``, bf16 activations).

Why this and not a quantisation library: measured on one LLaMA-7B MLP projection (4096 -> 11008,
2 threads, docs/PERFORMANCE.md), torchao's ``Int8WeightOnlyConfig`` and bitsandbytes' CPU int8
decode a token 15-40x slower than this kernel in eager mode (they dequantise the whole weight, or
need torch.compile), and dynamic int8 activations lose LLaMA's outlier channels (24 % error on one
layer). Weight-only int8 keeps the error at 0.5 % and reads half the bytes of bf16 per token.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

COMPUTE = torch.bfloat16  # the kernel takes bf16 activations and scales


class Int8Linear(nn.Module):
    """``nn.Linear`` with its weight rounded to int8 (symmetric, per output row). Inputs and outputs
    keep the dtype of the model around it; only the product runs in int8 x bf16."""

    weight: torch.Tensor  # buffers (register_buffer)
    scale: torch.Tensor

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach()
        scale = weight.abs().amax(dim=1).float().clamp(min=1e-12) / 127
        inverse = (1 / scale)[:, None]
        quantised = torch.empty(weight.shape, dtype=torch.int8)
        chunk = torch.empty(min(1024, weight.shape[0]), weight.shape[1])  # one bounded fp32 buffer
        for start in range(0, weight.shape[0], chunk.shape[0]):
            rows = slice(start, start + chunk.shape[0])
            part = chunk[: weight[rows].shape[0]]
            part.copy_(weight[rows]).mul_(inverse[rows]).round_()  # |w / scale| <= 127 by construction
            quantised[rows] = part
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight", quantised)
        self.register_buffer("scale", scale.to(COMPUTE))
        self.bias = (
            None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        )

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> Int8Linear:
        # .to(dtype) casts the model around it; the scale stays in the kernel's dtype.
        scale = self.scale
        result: Int8Linear = super()._apply(fn, recurse)  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        self.scale = scale.to(device=self.weight.device)
        return result

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(COMPUTE)
        out = torch._weight_int8pack_mm(flat, self.weight, self.scale).to(x.dtype)
        if self.bias is not None:
            out = out + self.bias.to(x.dtype)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-row"


def quantise_linears(model: nn.Module) -> int:
    """Replace every ``nn.Linear`` under ``model`` by an :class:`Int8Linear`, one at a time, so the
    16-bit weights (memory-mapped from the bundle) are never all copied at once. Returns how many."""
    targets = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear(linear))
    return len(targets)


def int8_weight_kernel_available() -> bool:
    return hasattr(torch, "_weight_int8pack_mm")
