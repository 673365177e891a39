#!/bin/sh
# /usr/bin/mgie-desktop: start MGIE Desktop, installed under /opt/mgie-desktop by its .deb.
# PyInstaller's one-folder app finds its files next to the real executable; a wrapper (not a
# symlink) keeps that true however the app is started.
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
exec /opt/mgie-desktop/mgie-desktop "$@"
