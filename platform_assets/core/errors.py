"""How reading or writing a vendor file fails, for every flow: the message names the file and
what is wrong; the class says whether a retry can help."""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting has a value the platform cannot use; the message names the variable."""


class LoadError(Exception):
    """A partition could not be loaded; the message names the file and what is wrong."""


class RemoteFileMissing(LoadError):
    pass


class BadFileError(LoadError):
    """The file cannot be parsed, or lacks a documented column."""


class RemoteFileChanged(LoadError):
    """The remote file changed while it was downloaded (still being written?); retryable."""


class WarehouseBusy(LoadError):
    """Another process held the warehouse's write lock for longer than the wait; retryable."""
