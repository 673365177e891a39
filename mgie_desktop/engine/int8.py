"""An 8-bit language model for the CPU: int8 weights with one scale per output row, multiplied by
PyTorch's own int8-weight kernel (``torch._weight_int8pack_mm``, bf16 activations).

Why this and not a quantisation library: measured on one LLaMA-7B MLP projection (4096 -> 11008,
2 threads, docs/PERFORMANCE.md), torchao's ``Int8WeightOnlyConfig`` and bitsandbytes' CPU int8
decode a token 15-40x slower than this kernel in eager mode (they dequantise the whole weight, or
need torch.compile), and dynamic int8 activations lose LLaMA's outlier channels (24 % error on one
layer). Weight-only int8 keeps the error at 0.5 % and reads half the bytes of bf16 per token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import nn

COMPUTE = torch.bfloat16  # the kernel takes bf16 activations and scales
# From this many rows on (a prompt's prefill, not a decoded token), a CPU with native bf16 runs the
# product faster as a bf16 matrix product over the weight widened into a reused buffer: one LLaMA
# projection (330 x 4096 -> 11008) took 969 ms in the int8 kernel, 15 + 323 ms so (docs/PERFORMANCE.md).
# One row at a time the kernel stays faster (12 ms against 24), and without native bf16 too.
DENSE_ROWS = 32


class _Scratch(threading.local):
    """The widened weight's buffer, reused by every layer of a thread: a fresh one each call cost
    more in page faults (112 ms for one projection) than the widening itself (15 ms)."""

    buffer: torch.Tensor | None = None


_scratch = _Scratch()


def _widened(weight: torch.Tensor) -> torch.Tensor:
    buffer = _scratch.buffer
    if buffer is None or buffer.numel() < weight.numel() or buffer.device != weight.device:
        # A plain tensor, even when first made under inference_mode: the next caller (klein's text
        # encoder after MGIE's LLM, say) may run outside it, and may not write to an inference tensor.
        with torch.inference_mode(False):
            buffer = _scratch.buffer = torch.empty(weight.numel(), dtype=COMPUTE, device=weight.device)
    return buffer[: weight.numel()].view(weight.shape).copy_(weight)  # int8 values are exact in bf16


class Int8Linear(nn.Module):
    """``nn.Linear`` with its weight rounded to int8 (symmetric, per output row). Inputs and outputs
    keep the dtype of the model around it; only the product runs in int8 x bf16."""

    weight: torch.Tensor  # buffers (register_buffer)
    scale: torch.Tensor

    def __init__(self, linear: nn.Linear, dense_prefill: bool = False):
        super().__init__()
        self.dense_prefill = dense_prefill  # bf16 products for many rows (where bf16 is native)
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
        if self.dense_prefill and flat.shape[0] >= DENSE_ROWS:
            out = (nn.functional.linear(flat, _widened(self.weight)) * self.scale).to(x.dtype)
        else:
            out = torch._weight_int8pack_mm(flat, self.weight, self.scale).to(x.dtype)
        if self.bias is not None:
            out = out + self.bias.to(x.dtype)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-row"


def quantise_linears(model: nn.Module, dense_prefill: bool = False) -> int:
    """Replace every ``nn.Linear`` under ``model`` by an :class:`Int8Linear`, one at a time, so the
    16-bit weights (memory-mapped from the bundle) are never all copied at once. Returns how many.
    ``dense_prefill``: the CPU computes bf16 natively (``devices.cpu_runs_bf16``), so many rows at
    once go through a bf16 product (the same int8 weights, the same result up to rounding)."""
    targets = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear(linear, dense_prefill))
    return len(targets)


def int8_weight_kernel_available() -> bool:
    return hasattr(torch, "_weight_int8pack_mm")
