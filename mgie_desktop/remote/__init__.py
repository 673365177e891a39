"""The engine as a server on a GPU machine, and its clients (the window, ``edit --remote``).

``protocol`` is the wire format, ``server`` the aiohttp application around one engine,
``client`` the asyncio client both the window (on qasync) and the CLI use. aiohttp is an
optional extra (``pip install 'mgie-desktop[remote]'``); ``require_aiohttp`` says so.
"""

from __future__ import annotations

from mgie_desktop.core.errors import InputError

INSTALL_HINT = "the remote engine needs aiohttp: pip install 'mgie-desktop[remote]'"


def require_aiohttp() -> None:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise InputError(INSTALL_HINT) from None
