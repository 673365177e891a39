"""Train the tiny LLaMA-style sentencepiece tokenizer shipped in mgie_desktop/engine/data.

Run once; the resulting ~10 KB file is committed so that the tokenisation test data
(expected ids from transformers 4.28) stays valid. Settings mirror LLaMA's tokenizer:
BPE, byte fallback, split digits, identity normalisation, dummy prefix, no
whitespace squeezing, <unk>=0 <s>=1 </s>=2.
"""

import io
import sys

import sentencepiece as spm

CORPUS = """
A chat between a curious user and an artificial intelligence assistant.
The assistant gives helpful, detailed, and polite answers to the user's questions.
USER: what will this image be like if 'make the sky a sunset'
ASSISTANT: The sky will be orange and pink, with the sun low above the horizon.
make the frame red. turn the day into night. give him a beard. make cottage a mansion.
remove yellow object from dogs paws. change the hair from red to blue. remove the text.
increase the image contrast. remove the people in the background.
please make this photo professional looking. darken the image, sharpen it.
photoshop the girl out. make more brightness. take away the brown filter form the image.
add more contrast to simulate more light. dark on rgb. make the face happy.
change view as ocean. replace basketball with soccer ball. let the floor be made of wood.
The image will show a brighter scene with vivid colors and a clear blue sky.
The photo would look warmer, with golden light on the trees and the water.
Add a rainbow, snow on the mountains, a dog on the grass, and clouds at dusk.
1 2 3 4 5 6 7 8 9 0 100 2024 512 x 512 pixels.
"""


def main(out: str) -> None:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([line for line in CORPUS.splitlines() if line.strip()] * 4),
        model_writer=model,
        model_type="bpe",
        vocab_size=420,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        allow_whitespace_only_pieces=True,
        minloglevel=2,
    )
    with open(out, "wb") as f:
        f.write(model.getvalue())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mgie_desktop/engine/data/tiny_tokenizer.model")
