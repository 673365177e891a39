"""A chain of edits on one photo, each on the previous result: what ``mgie-desktop edit`` runs for
its instructions and what ``mgie-desktop batch`` runs for a recipe, in one place so both give the
same pixels for the same chain, seeds and settings.

The engine is passed in (an ``engine.pipeline.MgieEngine`` or anything with its ``edit`` and
``render_plain`` and ``render_klein``), so this module stays free of torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from mgie_desktop.core.geometry import apply as apply_geometry
from mgie_desktop.core.geometry import describe
from mgie_desktop.core.history import History, blend
from mgie_desktop.core.masks import mask_to_text
from mgie_desktop.core.params import DEFAULT_PIXEL_BUDGET, EditParams
from mgie_desktop.core.sizing import klein_working_size, working_size
from mgie_desktop.core.step_params import StepKind, StepParams


@dataclass(frozen=True)
class ChainStep:
    """One edit (``geometry`` None) or one crop, rotation or flip (``geometry``: core.geometry's
    operation in pixels of the image it applies to)."""

    instruction: str = ""
    params: EditParams | None = None
    expressive: str | None = None  # steer MGIE with this text instead of the one it writes
    mask: Image.Image | None = None  # grey, any size: white edits, black keeps
    model: str = "mgie"  # "ip2p" or "klein": InstructPix2Pix or FLUX.2 [klein] reads the instruction itself
    strength: float = 1.0  # how much of the render shows over the step's source
    geometry: dict[str, Any] | None = None


def params_record(params: EditParams) -> dict[str, Any]:
    """The settings a history step keeps (and ``edit --json`` prints) for ``params``."""
    record = {
        "seed": params.seed,
        "steps": params.steps,
        "text_guidance": params.text_guidance,
        "image_guidance": params.image_guidance,
        "scheduler": params.scheduler,
    }
    if params.pixel_budget != DEFAULT_PIXEL_BUDGET:
        record["pixel_budget"] = params.pixel_budget
    return record


def run_chain(
    engine: Any,
    start: Image.Image,
    steps: list[ChainStep],
    finish: str = "detail",
    on_edit: Callable[[ChainStep, dict[str, Any]], None] | None = None,
) -> tuple[History, Image.Image, list[dict[str, Any]]]:
    """Each step on the previous result. Returns the history (close it when done), the last image
    and one record per edit (instruction, expressive instruction, working size, timings...).
    ``on_edit(step, record)`` is told of each edit as it finishes."""
    history = History()
    history.start(start)
    current, records = start, []
    stored_masks: dict[int, str] = {}  # mask_to_text once per mask, however many steps share it
    for step in steps:
        if step.geometry is not None:
            current = apply_geometry(current, step.geometry)
            history.push(
                current, instruction=describe(step.geometry), params=StepParams.of_geometry(step.geometry)
            )
            continue
        params, mask, text = step.params, step.mask, step.instruction
        assert params is not None, "an edit step carries its settings"  # only geometry steps go without
        stored_mask = ""
        if mask is not None:
            stored_mask = stored_masks.setdefault(id(mask), mask_to_text(mask))
        source = current
        if step.model in ("ip2p", "klein"):  # the engine reads the words itself: no LLM half
            begun = time.perf_counter()
            if step.model == "klein":
                [rendered], params = engine.render_klein(
                    current, text, params, [params.seed], finish=finish, mask=mask
                )
                size = klein_working_size(current.width, current.height, params.pixel_budget)
            else:
                rendered = engine.render_plain(current, text, params, finish=finish, mask=mask)
                size = working_size(current.width, current.height, params.pixel_budget)
            timings = {"instruct_s": 0.0, "render_s": time.perf_counter() - begun}
            words = {"expressive_instruction": "", "steered_instruction": ""}
            record = {
                "instruction": text,
                "expressive_instruction": "",
                "steered": False,
                "masked": mask is not None,
                "emitted_image_tokens": False,
                "working_width": size[0],
                "working_height": size[1],
                **timings,
            }
            kind = StepKind(step.model)
        else:
            outcome = engine.edit(current, text, params, finish=finish, expressive=step.expressive, mask=mask)
            rendered, timings = outcome.image, outcome.timings
            said = outcome.instruction.text
            words = {
                "steered_instruction": said if step.expressive else "",
                "expressive_instruction": "" if step.expressive else said,
            }
            record = {
                "instruction": text,
                "expressive_instruction": said,
                "steered": outcome.instruction.steered,
                "masked": mask is not None,
                "emitted_image_tokens": outcome.instruction.emitted_image_tokens,
                "working_width": outcome.working_size[0],
                "working_height": outcome.working_size[1],
                **outcome.timings,
            }
            kind = StepKind.MGIE
        history.push(
            rendered,
            instruction=text,
            params=StepParams.edit(params, kind, step.strength),
            timings=timings,
            mask=stored_mask,
            expressive_instruction=words["expressive_instruction"],
            steered_instruction=words["steered_instruction"],
        )
        # As the window shows a step below full strength: the render blended over its source.
        current = blend(source, rendered, step.strength) if step.strength < 1.0 else rendered
        records.append(record)
        if on_edit is not None:
            on_edit(step, record)
    return history, current, records
