"""An edit asked of an engine, and what it answers: the same data whether the engine runs on
this computer's thread or on a server down the hall (a remote edit and a local one are alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mgie_desktop.core.params import EditParams
from mgie_desktop.core.step_params import MODEL_NAMES
from mgie_desktop.core.sweep import Sweep

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class EditJob:
    job_id: int
    document: int  # which open document (the window counts them); results for another are dropped
    source_step: int
    image: Image.Image
    instruction: str
    params: EditParams
    rerender: bool = False  # reuse the LLM half for this (step, instruction) if the engine still holds it
    variations: int = 1  # more than one: render that many seeds in one batch
    expressive: str = ""  # a person's expressive instruction: steer with it instead of generating
    mgie_text: str = ""  # with ``expressive``: what MGIE had written, kept beside it in the history
    mask: Image.Image | None = None  # a grey PIL image: edit only where it is white (None: everywhere)
    compare: bool = False  # also render the ``versus`` engine (same words, seed and settings): an A/B pair
    model: str = "mgie"  # "ip2p": plain InstructPix2Pix alone, "klein": FLUX.2 [klein] (core.step_params)
    finish: str = "detail"  # how the working-size edit reaches the photo's size (engine.pipeline.render)
    sweep: Sweep | None = None  # render one image per guidance cell instead (core.sweep), seed as ``params``
    versus: str = "ip2p"  # with ``compare``: the second engine, another of MODEL_NAMES than ``model``

    def __post_init__(self) -> None:
        for name in (self.model, self.versus):
            if name not in MODEL_NAMES:
                raise ValueError(f"no engine is called {name!r}: one of {', '.join(MODEL_NAMES)}")
        if self.sweep is not None and self.model == "klein":
            raise ValueError("a guidance sweep needs guidance, and FLUX.2 [klein] is distilled to take none")
        if self.compare and self.versus == self.model:
            raise ValueError(f"an A/B pair needs two engines: both are {self.model!r}")
        if self.sweep is not None and (self.variations > 1 or self.compare):
            raise ValueError("a sweep renders its cells alone: no variations, no comparison")


@dataclass
class EditResult:
    """A finished edit: one image per render (variations, sweep cells, or MGIE then InstructPix2Pix)."""

    images: list[Any]  # PIL images; the first is the main result
    expressive_instruction: (
        str  # MGIE's reading of the instruction, for its images ("" when MGIE rendered none)
    )
    seeds: list[int]
    models: list[str]  # per image: "mgie", "ip2p" (plain InstructPix2Pix) or "klein" (FLUX.2 [klein])
    timings: dict[str, Any] = field(default_factory=dict)
    steered: bool = False  # the expressive text was the person's (steering), not MGIE's
    emitted_image_tokens: bool = True
    params: list[EditParams] = field(default_factory=list)  # per image: the settings it rendered with
