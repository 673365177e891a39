"""The reference's way of running MGIE, for comparison: pickled weights loaded into randomly
initialised modules, generation with every hidden state of every layer kept and no early
stop, the null conditioning recomputed for every edit, Euler ancestral for 100 steps."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mgie_desktop.core.deferred import load
from mgie_desktop.engine.model import EditHead
from mgie_desktop.engine.prompt import IM_START, PromptTokenizer, build_prompt
from mgie_desktop.engine.schedulers import make_scheduler


@dataclass
class ReferencePath:
    llm: nn.Module
    projector: nn.Module
    edit_head: nn.Module
    emb: torch.Tensor
    vision: nn.Module
    processor: object
    pipe: object
    tokenizer: PromptTokenizer
    img0: int
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def load(cls, src: Path, device: torch.device, dtype: torch.dtype) -> ReferencePath:
        """From the reference's files, the way its demo loaded them: pickles read whole with
        torch.load, weights copied in with load_state_dict. Like its from_pretrained calls
        (low_cpu_mem_usage), modules start empty rather than randomly initialised."""
        init_empty_weights = load("accelerate", "init_empty_weights")
        AutoencoderKL, UNet2DConditionModel = load("diffusers", "AutoencoderKL", "UNet2DConditionModel")
        CLIPImageProcessorPil, CLIPVisionModel, LlamaConfig, LlamaForCausalLM = load(
            "transformers", "CLIPImageProcessorPil", "CLIPVisionModel", "LlamaConfig", "LlamaForCausalLM"
        )

        llava_dir = src / "LLaVA-7B-v1"
        cfg = json.loads((llava_dir / "config.json").read_text())
        llava = {}
        for shard in sorted(llava_dir.glob("pytorch_model-*.bin")):
            llava.update(torch.load(shard, map_location="cpu", weights_only=True))
        mllm = torch.load(src / "mgie_7b" / "mllm.pt", map_location="cpu", weights_only=True)
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
        with init_empty_weights():
            llm = LlamaForCausalLM(config)
        llm.load_state_dict(
            {k: v for k, v in llava.items() if "mm_projector" not in k and "inv_freq" not in k},
            strict=False,
            assign=True,
        )
        llm.resize_token_embeddings(mllm["model.embed_tokens.weight"].shape[0])
        llm.load_state_dict({k: v for k, v in mllm.items() if not k.startswith("edit_head")}, strict=False)
        projector = nn.Linear(cfg["mm_hidden_size"], cfg["hidden_size"])
        projector.load_state_dict(
            {"weight": llava["model.mm_projector.weight"], "bias": llava["model.mm_projector.bias"]}
        )
        edit_head = EditHead(**EditHead.shape_from_state_dict(mllm))
        edit_head.load_state_dict(
            {k[len("edit_head.") :]: v for k, v in mllm.items() if k.startswith("edit_head.")}
        )
        vision = CLIPVisionModel.from_pretrained(src / "clip-vit-large-patch14", dtype=dtype)
        processor = CLIPImageProcessorPil.from_pretrained(src / "clip-vit-large-patch14")
        ip2p = src / "instruct-pix2pix"
        with init_empty_weights():
            unet = UNet2DConditionModel.from_config(json.loads((ip2p / "unet" / "config.json").read_text()))
        unet.load_state_dict(
            torch.load(src / "mgie_7b" / "unet.pt", map_location="cpu", weights_only=True), assign=True
        )
        vae_dir = ip2p / "vae"  # the Hub copy has safetensors too; a pickle-only copy must not log an error
        vae = AutoencoderKL.from_pretrained(
            vae_dir,
            torch_dtype=dtype,
            use_safetensors=(vae_dir / "diffusion_pytorch_model.safetensors").exists(),
        )
        scheduler = json.loads((ip2p / "scheduler" / "scheduler_config.json").read_text())
        return cls.assemble(
            llm,
            projector,
            edit_head,
            mllm["emb"],
            vision,
            processor,
            unet,
            vae,
            scheduler,
            PromptTokenizer(llava_dir),
            device,
            dtype,
        )

    @classmethod
    def assemble(
        cls,
        llm,
        projector,
        edit_head,
        emb,
        vision,
        processor,
        unet,
        vae,
        scheduler_config: dict,
        tokenizer: PromptTokenizer,
        device: torch.device,
        dtype: torch.dtype,
    ) -> ReferencePath:
        """From modules already built (the same weights our path uses, for a like-for-like run)."""
        StableDiffusionInstructPix2PixPipeline = load("diffusers", "StableDiffusionInstructPix2PixPipeline")

        pipe = StableDiffusionInstructPix2PixPipeline(
            vae=vae.to(device, dtype),
            text_encoder=None,
            tokenizer=None,
            unet=unet.to(device, dtype),
            scheduler=make_scheduler("euler_a", scheduler_config),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        for m in (llm, projector, edit_head, vision):
            m.to(device, dtype).eval()
        img0 = tokenizer.token_id("[IMG0]") if "[IMG0]" in tokenizer.added else llm.config.vocab_size - 8
        return cls(
            llm,
            projector,
            edit_head,
            emb.to(device, dtype),
            vision,
            processor,
            pipe,
            tokenizer,
            img0,
            device,
            dtype,
        )

    @torch.inference_mode()
    def edit(self, image, instruction: str, image_token_len: int, max_new_tokens: int = 96):
        timings = {}
        started = time.perf_counter()
        ids = torch.tensor(
            self.tokenizer.encode(build_prompt(instruction, image_token_len)), device=self.device
        )
        pixels = self.processor.preprocess(image, return_tensors="pt")["pixel_values"].to(
            self.device, self.dtype
        )
        feats = self.projector(self.vision(pixels, output_hidden_states=True).hidden_states[-2][:, 1:])[0]
        embeds = self.llm.get_input_embeddings()(ids)
        start = int(torch.where(ids == self.tokenizer.added[IM_START])[0][0])
        embeds = torch.cat((embeds[: start + 1], feats, embeds[start + feats.shape[0] + 1 :]))
        out = self.llm.generate(
            ids.unsqueeze(0),
            inputs_embeds=embeds.unsqueeze(0),
            attention_mask=torch.ones_like(ids).unsqueeze(0),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,
            num_beams=1,
            no_repeat_ngram_size=3,
            return_dict_in_generate=True,
            output_hidden_states=True,
        )
        seq, hid = out["sequences"][0].tolist(), torch.cat([x[-1] for x in out["hidden_states"]], dim=1)[0]
        p = min(seq.index(self.img0) - 1 if self.img0 in seq else len(hid) - 9, len(hid) - 9)
        cond = self.edit_head(hid[p : p + 8].unsqueeze(0), self.emb)
        null = self.edit_head(
            torch.zeros(1, 8, hid.shape[-1], device=self.device, dtype=self.dtype), self.emb
        )
        _sync(self.device)
        timings["instruct_s"] = time.perf_counter() - started
        started = time.perf_counter()
        result = self.pipe(
            image=image,
            prompt_embeds=cond,
            negative_prompt_embeds=null,
            generator=torch.Generator(device=self.device).manual_seed(13331),
        ).images[0]
        _sync(self.device)
        timings["render_s"] = time.perf_counter() - started
        return result, timings


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
