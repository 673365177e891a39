"""The engine against a step-by-step re-implementation of apple/ml-mgie's demo.

The reference side below reads the *reference files* (sharded LLaVA .bin, mllm.pt, unet.pt,
the CLIP and InstructPix2Pix directories) with its own code, splices the image features the
way LLaVA did, generates with every hidden state kept and no early stop, slices the [IMG]
states with the demo's formula, runs its own copy of EditMapper, and renders with a stock
diffusers pipeline call. Conditioning and pixels must be identical to the engine's.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mgie_desktop.core.params import REFERENCE_SEED, params_for
from mgie_desktop.engine.prompt import build_prompt

DATA = Path(__file__).parent / "data"
IDS = {
    c["instruction"]: c["ids"] for c in json.loads((DATA / "reference_prompt_ids.json").read_text())["cases"]
}


class EditMapper(nn.Module):
    """The reference's edit head, sized from its checkpoint (the real one is 4096->512->768)."""

    def __init__(self, llm, d, queries, out, enc, dec, ff):
        super().__init__()
        self.llm2hid = nn.Linear(llm, d)
        self.query = nn.Parameter(torch.randn(1, queries, d))
        self.mapper = nn.Transformer(
            batch_first=True,
            norm_first=True,
            d_model=d,
            nhead=4,
            num_encoder_layers=enc,
            num_decoder_layers=dec,
            dim_feedforward=ff,
            dropout=0.0,
        )
        self.hid2feat = nn.Linear(d, out)

    def forward(self, llm, emb):
        hid = self.llm2hid(llm + emb)
        hid = self.mapper(hid, self.query.repeat(llm.shape[0], 1, 1))
        return self.hid2feat(hid)


class ReferenceMgie:
    def __init__(self, src: Path):
        from transformers import CLIPImageProcessorPil, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

        llava_dir = src / "LLaVA-7B-v1"
        cfg = json.loads((llava_dir / "config.json").read_text())
        llava = {}
        for shard in sorted(llava_dir.glob("pytorch_model-*.bin")):
            llava.update(torch.load(shard, map_location="cpu", weights_only=True))
        config = LlamaConfig(
            vocab_size=cfg["vocab_size"],
            hidden_size=cfg["hidden_size"],
            intermediate_size=cfg["intermediate_size"],
            num_hidden_layers=cfg["num_hidden_layers"],
            num_attention_heads=cfg["num_attention_heads"],
            rms_norm_eps=cfg["rms_norm_eps"],
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=0,
            tie_word_embeddings=False,
        )
        self.llm = LlamaForCausalLM(config)
        self.llm.load_state_dict(
            {k: v.float() for k, v in llava.items() if "mm_projector" not in k and "inv_freq" not in k}
        )
        self.projector = nn.Linear(cfg["mm_hidden_size"], cfg["hidden_size"])
        self.projector.load_state_dict(
            {
                "weight": llava["model.mm_projector.weight"].float(),
                "bias": llava["model.mm_projector.bias"].float(),
            }
        )
        ckpt = torch.load(src / "mgie_7b" / "mllm.pt", map_location="cpu", weights_only=True)
        self.llm.resize_token_embeddings(ckpt["model.embed_tokens.weight"].shape[0])
        self.llm.load_state_dict(
            {k: v.float() for k, v in ckpt.items() if not k.startswith("edit_head")}, strict=False
        )
        head = {k[len("edit_head.") :]: v.float() for k, v in ckpt.items() if k.startswith("edit_head.")}
        self.edit_head = EditMapper(
            head["llm2hid.weight"].shape[1],
            head["llm2hid.weight"].shape[0],
            head["query"].shape[1],
            head["hid2feat.weight"].shape[0],
            2,
            2,
            head["mapper.encoder.layers.0.linear1.weight"].shape[0],
        )
        self.edit_head.load_state_dict(head)
        self.emb = ckpt["emb"].float()
        # The demo loads CLIP and the pipeline with torch_dtype=float16: fp16 weights, run here in fp32.
        self.vision = CLIPVisionModel.from_pretrained(
            src / "clip-vit-large-patch14", dtype=torch.float16
        ).float()
        self.processor = CLIPImageProcessorPil.from_pretrained(src / "clip-vit-large-patch14")
        self.im_start = json.loads((llava_dir / "added_tokens.json").read_text())["<im_start>"]
        self.img0 = ckpt["model.embed_tokens.weight"].shape[0] - 8
        for m in (self.llm, self.projector, self.edit_head, self.vision):
            m.eval()

    @torch.inference_mode()
    def conditioning(self, image, instruction):
        ids = torch.as_tensor(IDS[instruction])  # what transformers 4.28 tokenised
        pixels = self.processor.preprocess(image, return_tensors="pt")["pixel_values"]
        feats = self.vision(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
        feats = self.projector(feats)[0]
        embeds = self.llm.get_input_embeddings()(ids)
        start = int(torch.where(ids == self.im_start)[0][0])
        embeds = torch.cat((embeds[: start + 1], feats, embeds[start + feats.shape[0] + 1 :]), dim=0)
        out = self.llm.generate(
            ids.unsqueeze(0),
            inputs_embeds=embeds.unsqueeze(0),
            attention_mask=torch.ones_like(ids).unsqueeze(0),
            do_sample=False,
            max_new_tokens=96,
            num_beams=1,
            no_repeat_ngram_size=3,
            return_dict_in_generate=True,
            output_hidden_states=True,
        )
        seq, hid = out["sequences"][0].tolist(), torch.cat([x[-1] for x in out["hidden_states"]], dim=1)[0]
        p = min(seq.index(self.img0) - 1 if self.img0 in seq else len(hid) - 9, len(hid) - 9)
        cond = self.edit_head(hid[p : p + 8].unsqueeze(0), self.emb)
        null = self.edit_head(torch.zeros(1, 8, hid.shape[-1]), self.emb)
        return cond, null, seq[len(ids) :]

    @staticmethod
    def render(ip2p_dir: Path, unet_pt: Path, image, cond, null):
        from diffusers import (
            AutoencoderKL,
            EulerAncestralDiscreteScheduler,
            StableDiffusionInstructPix2PixPipeline,
            UNet2DConditionModel,
        )

        unet = UNet2DConditionModel.from_config(json.loads((ip2p_dir / "unet" / "config.json").read_text()))
        unet.load_state_dict({k: v.float() for k, v in torch.load(unet_pt, weights_only=True).items()})
        pipe = StableDiffusionInstructPix2PixPipeline(
            vae=AutoencoderKL.from_pretrained(ip2p_dir / "vae", torch_dtype=torch.float16).float(),
            text_encoder=None,
            tokenizer=None,
            unet=unet,
            scheduler=EulerAncestralDiscreteScheduler.from_pretrained(ip2p_dir / "scheduler"),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        with torch.inference_mode():
            return pipe(
                image=image,
                prompt_embeds=cond,
                negative_prompt_embeds=null,
                generator=torch.Generator(device="cpu").manual_seed(REFERENCE_SEED),
            ).images[0]


@pytest.mark.parametrize("models", ["tiny_models", "emitting_models"])
def test_conditioning_and_pixels_equal_the_reference(request, models, photo):
    root = request.getfixturevalue(models)
    engine = request.getfixturevalue("engine" if models == "tiny_models" else "emitting_engine")
    reference = ReferenceMgie(root / "tiny-reference")
    instruction = "make the sky a sunset"
    image = photo.crop((0, 0, 64, 64))  # working size == input size: no resize on either side

    ref_cond, ref_null, ref_new = reference.conditioning(image, instruction)
    ours = engine.instruct(image, instruction)
    assert torch.equal(ours.conditioning, ref_cond)
    assert torch.equal(engine.null_conditioning, ref_null)
    assert ours.emitted_image_tokens == (reference.img0 in ref_new)
    if models == "emitting_models":
        assert ours.text == "The sky will be orange."
        assert ours.new_tokens < len(ref_new)  # we stopped at [IMG7]; the reference ran on to </s>

    expected = reference.render(
        root / "tiny-reference" / "instruct-pix2pix",
        root / "tiny-reference" / "mgie_7b" / "unet.pt",
        image,
        ref_cond,
        ref_null,
    )
    ours_image = engine.render(image, ours.conditioning, params_for("reference", pixel_budget=64 * 64))
    assert ours_image.size == expected.size == image.size
    assert np.array_equal(np.asarray(ours_image), np.asarray(expected))


def test_reference_prompt_ids_are_what_the_engine_feeds_the_llm(engine):
    ids = engine.bundle.tokenizer.encode(build_prompt("make the sky a sunset", 256))
    assert ids == IDS["make the sky a sunset"]
