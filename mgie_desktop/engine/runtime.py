"""Process-wide quieting of the ML libraries: the CLI and the window report progress
themselves; library progress bars and advisory warnings would only bury it."""

from __future__ import annotations

import warnings

from huggingface_hub.utils.tqdm import disable_progress_bars

from mgie_desktop.core.deferred import load

_done = False


def quiet_libraries() -> None:
    global _done
    if _done:
        return
    diffusers = load("diffusers")
    transformers = load("transformers")

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    diffusers.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    disable_progress_bars()
    # nn.Transformer(norm_first=True) explains that it will not use nested tensors.
    warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
    _done = True
