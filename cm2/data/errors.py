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


class NoUsableRecordsError(RecordError):
    """An input in which not one record could be used: the job stops before writing anything."""


def no_usable_records(source: object, problems: list[tuple[str, str]], read: int = 0) -> NoUsableRecordsError:
    """The error for `source` when nothing in it was usable, quoting its first bad record."""
    if not problems:
        what = "no records" if not read else f"none of its {read} record(s) usable"
        return NoUsableRecordsError(str(source), f"{what}; nothing to do")
    location, message = problems[0]
    more = f" (and {len(problems) - 1} more bad record(s))" if len(problems) > 1 else ""
    return NoUsableRecordsError(location, f"{message}{more}; nothing usable in {source}")
