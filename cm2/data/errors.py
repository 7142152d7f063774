"""The error raised for a record that cannot be read or converted."""

from __future__ import annotations


class RecordError(ValueError):
    """A bad record: `location` says where it is (file and line, or dialogue id), `message` what is wrong."""

    def __init__(self, location: str, message: str):
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}" if location else message)

    def __reduce__(self) -> tuple[type[RecordError], tuple[str, str]]:
        return type(self), (self.location, self.message)


class UnreadableFileError(RecordError):
    """A file that cannot be read on (not the format it claims, cut short, a directory): the whole input is
    in doubt, so readers raise this rather than skip a record."""
