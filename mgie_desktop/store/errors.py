"""The store's errors, each a subclass of the app's (``core.errors``) so callers map them to
exit codes and dialogs without knowing the store: bad input or environment (2), failures (1)."""

from __future__ import annotations

from mgie_desktop.core.errors import InputError, MgieError, ModelFilesError


class ManifestError(InputError):
    """The manifest is unreadable, malformed, or names a path outside the models directory."""


class NotEnoughSpace(InputError):
    """The disk cannot hold what the download needs (checked first, and on ENOSPC)."""


class DestinationNotWritable(InputError):
    """The models directory (or the Hugging Face cache) cannot be written."""


class LicenseNotAccepted(InputError):
    """The user declined a license; nothing was downloaded."""


class DownloadError(MgieError):
    """A transfer failed for good (server error, stall, size mismatch); the ``.part`` file is kept."""


class HashMismatch(ModelFilesError):
    """A file's sha256 differs from the expected one; the bad bytes were deleted."""


class ServerUnreachable(DownloadError):
    """The download servers cannot be reached at all (offline, proxy, firewall): the whole run
    stops at once instead of retrying each file."""
