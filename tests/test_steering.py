"""Steering (issue 12): a person's expressive instruction drives the edit through one teacher-forced
pass, taking the hidden states generation would have used."""

import json

import pytest
import torch

from mgie_desktop.core.errors import InputError
from mgie_desktop.engine.pipeline import N_VISUAL, _reference_slice_start
from mgie_desktop.engine.prompt import IMG_TOKENS

INSTRUCTION = "make the sky a sunset"


def test_steering_with_the_generated_answer_gives_the_conditioning_generation_gave(emitting_engine, photo):
    generated = emitting_engine.instruct(photo, INSTRUCTION)
    assert generated.emitted_image_tokens and generated.answer == "The sky will be orange."
    steered = emitting_engine.steer(photo, INSTRUCTION, generated.answer)
    assert steered.steered and not generated.steered and steered.text == generated.answer
    assert steered.new_tokens == generated.new_tokens  # the same tokens, [IMG0..7] included
    torch.testing.assert_close(steered.visual_tokens, generated.visual_tokens, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(steered.conditioning, generated.conditioning, atol=1e-4, rtol=1e-4)


def _incremental_states(engine, photo, answer_ids):
    """What generation computes: the prompt, then one token at a time through the KV cache."""
    llm = engine.bundle.model.llm
    ids, embeds = engine._prompt_embeds(photo, INSTRUCTION)
    states = []
    with torch.inference_mode():
        out = llm.model(inputs_embeds=embeds, use_cache=True)
        states.append(out.last_hidden_state[0])
        cache = out.past_key_values
        for token in answer_ids:
            out = llm.model(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True)
            states.append(out.last_hidden_state[0])
            cache = out.past_key_values
    return ids, torch.cat(states)


def test_without_image_tokens_steering_appends_them_and_takes_the_states_generation_would(engine, photo):
    generated = engine.instruct(photo, INSTRUCTION)
    assert not generated.emitted_image_tokens  # the fallback case: [IMG0] never came
    steered = engine.steer(photo, INSTRUCTION, generated.answer or "a brighter sky")
    tokens = engine.bundle.tokenizer
    answer = tokens.encode((generated.answer or "a brighter sky").strip())[1:]
    image_ids = [engine.tokens[t] for t in IMG_TOKENS]
    ids, states = _incremental_states(engine, photo, answer + image_ids)
    p = _reference_slice_start(
        ids + answer + image_ids, len(ids), len(answer) + N_VISUAL, image_ids[0], tokens.eos_id
    )
    assert p == len(ids) + len(answer) - 1  # the state that predicted [IMG0], then [IMG0..6]'s
    torch.testing.assert_close(steered.visual_tokens[0], states[p : p + N_VISUAL], atol=1e-4, rtol=1e-4)
    assert steered.new_tokens == len(answer) + N_VISUAL


def test_an_edited_text_changes_the_conditioning_and_an_empty_one_is_refused(emitting_engine, photo):
    generated = emitting_engine.instruct(photo, INSTRUCTION)
    # The tiny model's attention is silenced: the state before [IMG0] depends on the last token only,
    # so the edited text ends in another word than "."
    steered = emitting_engine.steer(photo, INSTRUCTION, "The sky will be a deep green")
    assert not torch.allclose(steered.conditioning, generated.conditioning, atol=1e-3)
    for empty in ("", "   "):
        with pytest.raises(InputError, match="expressive instruction is empty"):
            emitting_engine.steer(photo, INSTRUCTION, empty)


def test_cli_steers_each_instruction_in_order_and_records_both_texts(
    emitting_models, photo_path, tmp_path, capsys
):
    from mgie_desktop.cli import main

    out, session = tmp_path / "out.png", tmp_path / "steered.mgie"
    code = main(
        [
            "edit",
            str(photo_path),
            "-i",
            INSTRUCTION,
            "-i",
            "more contrast",
            "--expressive",
            "The sky will be purple.",
            "-o",
            str(out),
            "--models",
            str(emitting_models),
            "--steps",
            "2",
            "--device",
            "cpu",
            "--precision",
            "fp32",
            "--session",
            str(session),
            "--json",
        ]
    )
    assert code == 0 and out.is_file()
    report = json.loads(capsys.readouterr().out)
    first, second = report["edits"]
    assert first["steered"] and first["expressive_instruction"] == "The sky will be purple."
    assert not second["steered"] and second["expressive_instruction"] == "The sky will be orange."
    assert report["steered"] is False  # the last edit's

    assert main(["session", "info", str(session), "--json"]) == 0
    steps = [s for s in json.loads(capsys.readouterr().out)["steps"] if s["instruction"]]
    assert (
        steps[0]["steered_instruction"] == "The sky will be purple."
        and steps[0]["expressive_instruction"] == ""
    )
    assert (
        steps[1]["steered_instruction"] == ""
        and steps[1]["expressive_instruction"] == "The sky will be orange."
    )
    assert main(["session", "info", str(session)]) == 0
    assert 'steered: "The sky will be purple."' in capsys.readouterr().out


def test_cli_refuses_more_expressive_texts_than_instructions(emitting_models, photo_path, tmp_path, capsys):
    from mgie_desktop.cli import main

    out = tmp_path / "out.png"
    code = main(
        [
            "edit",
            str(photo_path),
            "-i",
            INSTRUCTION,
            "-e",
            "one",
            "-e",
            "two",
            "-o",
            str(out),
            "--models",
            str(emitting_models),
        ]
    )
    assert code == 2 and not out.exists()
    assert "more --expressive than --instruction" in capsys.readouterr().err


def test_typed_image_tokens_are_dropped_and_the_eight_always_follow_the_words(emitting_engine):
    from mgie_desktop.engine.steering import steered_answer_ids

    tokens = emitting_engine.bundle.tokenizer
    image_ids = [emitting_engine.tokens[t] for t in IMG_TOKENS]
    plain = steered_answer_ids(tokens, "The sky will be orange.", image_ids)
    typed = steered_answer_ids(tokens, "The sky will be orange. [IMG0] [IMG3]", image_ids)
    assert plain[-8:] == typed[-8:] == image_ids and typed.count(image_ids[0]) == 1
    with pytest.raises(InputError, match="no words"):
        steered_answer_ids(tokens, "[IMG0][IMG1]", image_ids)


def test_a_long_steered_text_takes_the_states_before_its_image_tokens(engine, photo):
    """Longer than generation could ever write (96 tokens): the slice still starts at the token
    before [IMG0], not one earlier."""
    from mgie_desktop.engine.steering import steered_answer_ids, teacher_forced_states

    text = " ".join(["the sky turns a warm orange over the sea"] * 15)
    steered = engine.steer(photo, INSTRUCTION, text)
    image_ids = [engine.tokens[t] for t in IMG_TOKENS]
    answer = steered_answer_ids(engine.bundle.tokenizer, text, image_ids)
    assert len(answer) > 96 + N_VISUAL
    ids, embeds = engine._prompt_embeds(photo, INSTRUCTION)
    with torch.inference_mode():
        states = teacher_forced_states(engine.bundle.model.llm, embeds, torch.tensor([answer]))
    p = len(ids) + len(answer) - N_VISUAL - 1
    torch.testing.assert_close(steered.visual_tokens[0], states[p : p + N_VISUAL])
