"""Reading, writing and converting dialogue data.

`cm2.data.io` streams records from JSONL, JSON, Parquet and Hugging Face dataset directories and
writes them atomically; `cm2.data.adapters` turns CM2, Nemotron and OpenAI-style records into
`Dialogue`s and back; `JsonlAppender` is the durable, resumable output of long jobs.
"""

from cm2.data.adapters import (
    RECORD_FORMATS,
    RecordFormat,
    content_id,
    convert_record,
    detect_format,
    from_cm2,
    from_dialogue,
    from_nemotron,
    from_openai,
    to_cm2,
    to_dialogue,
    to_nemotron,
    to_openai,
)
from cm2.data.appender import JsonlAppender, TornTail
from cm2.data.errors import RecordError
from cm2.data.io import (
    FILE_FORMATS,
    FileFormat,
    RawRecord,
    count_records,
    file_format,
    iter_records,
    read_dialogues,
    write_records,
)

__all__ = [
    "FILE_FORMATS",
    "RECORD_FORMATS",
    "FileFormat",
    "JsonlAppender",
    "RawRecord",
    "RecordError",
    "RecordFormat",
    "TornTail",
    "content_id",
    "convert_record",
    "count_records",
    "detect_format",
    "file_format",
    "from_cm2",
    "from_dialogue",
    "from_nemotron",
    "from_openai",
    "iter_records",
    "read_dialogues",
    "to_cm2",
    "to_dialogue",
    "to_nemotron",
    "to_openai",
    "write_records",
]
