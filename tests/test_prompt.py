"""The prompt and its token ids are the reference's, exactly (transformers 4.28, slow tokenizer)."""

import hashlib
import json
from pathlib import Path

import pytest

from mgie_desktop.engine.prompt import IMG_TOKENS, PromptTokenizer, build_prompt, clean_expressive

DATA = Path(__file__).parent / "data"

REFERENCE = json.loads((DATA / "reference_prompt_ids.json").read_text(encoding="utf-8"))


def reference_remove_alter(s: str) -> str:
    """apple/ml-mgie demo.ipynb's clean-up, step by step (it decoded prompt and answer)."""
    if "ASSISTANT:" in s:
        s = s[s.index("ASSISTANT:") + 10 :].strip()
    if "</s>" in s:
        s = s[: s.index("</s>")].strip()
    if "alternative" in s.lower():
        s = s[: s.lower().index("alternative")]
    if "[IMG0]" in s:
        s = s[: s.index("[IMG0]")]
    s = ".".join([s.strip() for s in s.split(".")[:2]])
    if s[-1] != ".":
        s += "."
    return s.strip()


@pytest.fixture(scope="module")
def tokenizer(tiny_models):
    return PromptTokenizer(tiny_models / "bundle" / "tokenizer")


def test_reference_data_was_made_from_the_shipped_tiny_tokenizer(tiny_models):
    model = (tiny_models / "bundle" / "tokenizer" / "tokenizer.model").read_bytes()
    assert hashlib.sha256(model).hexdigest() == REFERENCE["tokenizer_dir_sha256"]["tokenizer.model"]


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: c["instruction"][:30])
def test_prompt_ids_match_transformers_4_28(tokenizer, case):
    prompt = build_prompt(case["instruction"], REFERENCE["image_token_len"])
    assert prompt == case["prompt"]
    assert tokenizer.encode(prompt) == case["ids"]


def test_no_newline_token_before_im_start(tokenizer):
    ids = tokenizer.encode(build_prompt("make the sky a sunset", 4))
    start = ids.index(tokenizer.token_id("<im_start>"))
    assert tokenizer.sp.id_to_piece(ids[start - 1]) != "<0x0A>"


def test_img_tokens_follow_llava_vocabulary(tokenizer):
    assert [tokenizer.token_id(t) for t in IMG_TOKENS] == [REFERENCE["img_token_ids"][t] for t in IMG_TOKENS]
    assert len(tokenizer) == max(REFERENCE["img_token_ids"].values()) + 1


def test_answer_decoding_stops_at_visual_tokens(tokenizer):
    ids = tokenizer.sp.encode("The sky will be orange.") + [
        tokenizer.token_id("[IMG0]"),
        tokenizer.token_id("[IMG1]"),
    ]
    assert tokenizer.decode_answer(ids) == "The sky will be orange."
    assert (
        tokenizer.decode_answer(tokenizer.sp.encode("make it red") + [tokenizer.eos_id, 5]) == "make it red"
    )


@pytest.mark.parametrize(
    "answer",
    [
        "The sky turns orange and pink. The sun sets low. Birds fly home.",
        "Brighter colours [IMG0] [IMG1] [IMG2]",
        "An alternative would be blue. Or not.",
        "No full stop here",
        "Ends early</s> and more",
        "  spaced  .  out  .  text  ",
    ],
)
def test_clean_up_matches_the_demo(answer):
    decoded_like_reference = "<s> A chat ... ASSISTANT: " + answer
    assert clean_expressive(answer) == reference_remove_alter(decoded_like_reference)


def test_clean_up_of_an_empty_answer_does_not_crash():
    assert clean_expressive("") == ""
    assert clean_expressive("[IMG0] [IMG1]") == ""
