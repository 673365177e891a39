"""One clear line instead of Qt's abort when its platform plugin cannot start.

On a stock Linux desktop installed with pip, Qt's xcb plugin fails to load when a system
library is missing (libxcb-icccm4 and libxcb-keysyms1 on Debian), and Qt aborts with a text
that names another library. While the QApplication is made, Qt's messages are held back; if
Qt gives up, the user reads which packages to install (or that there is no display) and the
process exits with EXIT_PLATFORM instead of dumping core.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

EXIT_PLATFORM = 1

# What Qt 6's xcb platform plugin loads from the system, and the Debian/Ubuntu package of each
# (installer/linux/deb_depends.py makes the .deb depend on the same packages).
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def library_loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_packages(loads: Callable[[str], bool] = library_loads) -> list[str]:
    """The packages whose libraries the xcb plugin needs and this system cannot load."""
    return sorted({package for soname, package in XCB_LIBRARIES.items() if not loads(soname)})


def failure_line(qt_messages: list[str], missing: list[str], environ: dict[str, str] | None = None) -> str:
    """What to tell a person whose window Qt could not open."""
    environ = os.environ if environ is None else environ
    platform = environ.get("QT_QPA_PLATFORM") or "xcb"
    if missing and "xcb" in platform:
        return (
            "mgie-desktop: the window cannot open: Qt's X11 (xcb) plugin needs system libraries "
            f"that are missing; install them with: sudo apt install {' '.join(missing)}"
        )
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        return (
            "mgie-desktop: the window cannot open: there is no display (neither DISPLAY nor "
            "WAYLAND_DISPLAY is set); start it from a desktop session, or use `mgie-desktop edit` "
            "on the command line"
        )
    reason = next((m for m in reversed(qt_messages) if "platform plugin" in m or "display" in m), "")
    reason = reason.splitlines()[0].strip() if reason else "no platform plugin could be initialized"
    return f"mgie-desktop: the window cannot open: Qt's {platform!r} platform plugin failed: {reason}"


@contextmanager
def platform_guard(exit_process: Callable[[int], None] = os._exit) -> Iterator[None]:
    """Hold Qt's messages while the QApplication is made; if Qt gives up, print one line and exit."""
    held: list[str] = []

    def handler(kind: QtMsgType, _context, message: str) -> None:
        if kind == QtMsgType.QtFatalMsg:
            missing = missing_packages() if sys.platform.startswith("linux") else []
            print(failure_line(held + [message], missing), file=sys.stderr, flush=True)
            exit_process(EXIT_PLATFORM)  # Qt aborts once this returns
        held.append(message)

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)
        for message in held:  # the start went well: pass on what Qt said meanwhile
            print(message, file=sys.stderr)
