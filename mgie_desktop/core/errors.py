"""Errors the user can act on. Each carries a message written for people, not stack traces."""


class MgieError(Exception):
    """Base class: something the user can fix or retry; the app reports it and stays up."""


class InputError(MgieError):
    """Bad input from the user: unreadable image, empty instruction, unknown option."""


class ModelFilesError(MgieError):
    """Model files are missing, incomplete, corrupt or unsafe to load."""


class EditCancelled(MgieError):
    """The user cancelled an edit; nothing was changed."""


class LoadCancelled(MgieError):
    """Loading the models was stopped (the app is quitting); nothing was kept."""


class OutOfMemory(MgieError):
    """The device ran out of memory; nothing was changed and the app stays up."""


class RenderFailed(MgieError):
    """The render's numbers overflowed (inf or NaN): there is no picture to keep, so none is written."""
