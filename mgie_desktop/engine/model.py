"""MGIE's modules on current transformers: CLIP vision tower, projector, LLaMA, edit head.

Every size is read from the weights; nothing assumes the 7B model.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn


class EditHead(nn.Module):
    """The reference's ``EditMapper``: visual tokens + [IMG] embeddings -> UNet conditioning.

    Parameter names match the reference checkpoint (``llm2hid``, ``query``, ``mapper``,
    ``hid2feat``) so ``edit_head.*`` keys load as they are.
    """

    def __init__(
        self,
        llm_dim: int,
        d_model: int,
        n_queries: int,
        cond_dim: int,
        num_encoder_layers: int,
        num_decoder_layers: int,
        dim_feedforward: int,
        nhead: int = 4,
    ):
        super().__init__()
        self.llm2hid = nn.Linear(llm_dim, d_model)
        self.query = nn.Parameter(torch.zeros(1, n_queries, d_model))
        self.mapper = nn.Transformer(
            d_model=d_model,
            nhead=nhead,
            num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers,
            dim_feedforward=dim_feedforward,
            dropout=0.0,
            batch_first=True,
            norm_first=True,
        )
        self.hid2feat = nn.Linear(d_model, cond_dim)

    @classmethod
    def shape_from_state_dict(cls, sd: dict[str, torch.Tensor], prefix: str = "edit_head.") -> dict[str, Any]:
        """Constructor arguments (all but ``nhead``, which weights cannot tell) from a state dict."""

        def count(kind: str) -> int:
            pattern = re.compile(rf"{re.escape(prefix)}mapper\.{kind}\.layers\.(\d+)\.")
            return 1 + max(int(m.group(1)) for k in sd if (m := pattern.match(k)))

        d_model, llm_dim = sd[prefix + "llm2hid.weight"].shape
        return {
            "llm_dim": llm_dim,
            "d_model": d_model,
            "n_queries": sd[prefix + "query"].shape[1],
            "cond_dim": sd[prefix + "hid2feat.weight"].shape[0],
            "num_encoder_layers": count("encoder"),
            "num_decoder_layers": count("decoder"),
            "dim_feedforward": sd[prefix + "mapper.encoder.layers.0.linear1.weight"].shape[0],
        }

    def forward(self, visual_tokens: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        hid = self.llm2hid(visual_tokens + emb)
        hid = self.mapper(hid, self.query.repeat(visual_tokens.shape[0], 1, 1))
        features: torch.Tensor = self.hid2feat(hid)
        return features


class MgieModel(nn.Module):
    """The multimodal half of MGIE: vision tower -> projector -> LLaMA, plus the edit head."""

    emb: torch.Tensor  # a buffer (register_buffer)

    def __init__(
        self,
        vision: Any,
        projector: nn.Linear,
        llm: Any,
        edit_head: EditHead,
        emb: torch.Tensor,
        vision_select_layer: int = -2,
    ):
        super().__init__()
        self.vision = vision
        self.projector = projector
        self.llm = llm
        self.edit_head = edit_head
        self.register_buffer("emb", emb, persistent=False)
        self.vision_select_layer = vision_select_layer

    @property
    def llm_dim(self) -> int:
        return self.projector.out_features

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected CLIP patch features (CLS dropped), as LLaVA computes them."""
        out = self.vision(pixel_values.to(self.vision.dtype), output_hidden_states=True)
        patches = out.hidden_states[self.vision_select_layer][:, 1:]
        projected: torch.Tensor = self.projector(patches.to(self.projector.weight.dtype))
        return projected

    def conditioning(self, visual_tokens: torch.Tensor) -> torch.Tensor:
        conditioning: torch.Tensor = self.edit_head(visual_tokens.to(self.emb.dtype), self.emb)
        return conditioning

    def null_conditioning(self) -> torch.Tensor:
        zeros = torch.zeros(
            1, self.emb.shape[-2], self.emb.shape[-1], dtype=self.emb.dtype, device=self.emb.device
        )
        conditioning: torch.Tensor = self.edit_head(zeros, self.emb)
        return conditioning
