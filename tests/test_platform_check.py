"""Qt's platform plugin failing to start gets one line naming what to install (issue 24)."""

import os
import subprocess
import sys

import pytest

from mgie_desktop.ui.platform_check import EXIT_PLATFORM, XCB_LIBRARIES, failure_line, missing_packages


@pytest.mark.parametrize("absent", [set(), {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}, set(XCB_LIBRARIES)])
def test_missing_packages_names_the_package_of_each_library_that_does_not_load(absent):
    packages = missing_packages(lambda soname: soname not in absent)
    assert packages == sorted({XCB_LIBRARIES[s] for s in absent})


def test_the_line_names_the_packages_when_the_xcb_plugin_lacks_libraries():
    line = failure_line(
        ['Could not load the Qt platform plugin "xcb"'],
        ["libxcb-icccm4", "libxcb-keysyms1"],
        {"DISPLAY": ":0"},
    )
    assert line.endswith("sudo apt install libxcb-icccm4 libxcb-keysyms1") and "\n" not in line


def test_the_line_says_there_is_no_display_when_the_libraries_are_there():
    line = failure_line(["qt.qpa.xcb: could not connect to display"], [], {})
    assert "no display" in line and "mgie-desktop edit" in line


def test_otherwise_the_line_passes_on_qt_s_own_reason():
    line = failure_line(
        ['Could not load the Qt platform plugin "wayland" in "" even though it was found.\nmore'],
        [],
        {"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"},
    )
    assert "'wayland' platform plugin failed: Could not load" in line and "\n" not in line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")
def test_the_app_without_a_usable_xcb_plugin_exits_with_one_line_instead_of_qt_s_abort(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        QT_QPA_PLATFORM="xcb", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path)
    )
    run = subprocess.run(
        [sys.executable, "-m", "mgie_desktop"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == EXIT_PLATFORM, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mgie-desktop: the window cannot open:"), run.stderr
    missing = missing_packages()  # this machine's own answer decides which of the two lines it is
    assert ("sudo apt install " + " ".join(missing)) in lines[0] if missing else "no display" in lines[0]
