"""Where the engine stands, as the window knows it: told by the engine (local or remote) with
each change, with a detail line. A ``str`` Enum, so it travels through Qt signals as text and
compares equal to it."""

from __future__ import annotations

from enum import Enum

# BUSY's detail while an edit first loads FLUX.2 [klein] (16 GB, a minute or more): the status
# bar says it, where it otherwise just says "busy".
KLEIN_FIRST_LOAD = "loading FLUX.2 [klein] for its first edit…"


class EngineState(str, Enum):
    NOT_LOADED = "not loaded"  # at start-up, before the background start
    STARTING = "starting"  # asked to load; the engine has not answered yet
    NOT_INSTALLED = "not installed"  # no models where it looked (the detail says where and what to do)
    LOADING = "loading"
    READY = "ready"  # the detail: the device and the load time
    BUSY = "busy"  # an edit is running; the detail: its instruction
    ERROR = "error"  # the models (or the server) could not be loaded; the detail: why
    CANCELLED = "cancelled"  # a load stopped by the person
    PAUSED = "paused"  # the models let go while a watched folder's own process uses them

    def __str__(self) -> str:
        return self.value

    @property
    def failed(self) -> bool:
        """No engine to edit with until the person does something (install, fix, load again)."""
        return self in (
            EngineState.NOT_INSTALLED,
            EngineState.ERROR,
            EngineState.CANCELLED,
            EngineState.PAUSED,
        )

    @property
    def coming(self) -> bool:
        """Loading or about to: an edit asked for now waits for it."""
        return self in (EngineState.STARTING, EngineState.LOADING)
