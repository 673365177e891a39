"""Limits for session files from elsewhere (hostile until checked). Read as ``limits.NAME`` at
each use, so a deployment or a test can change them at run time."""

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_STEPS = 10_000
MAX_TOTAL_BYTES = 32 * 1024**3  # everything extracted from one session
MAX_RATIO = 200  # uncompressed/compressed beyond this (for members over 1 MiB) is a zip bomb
