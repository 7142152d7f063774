"""Credentials in URLs never shown: userinfo and credential-like query parameters are masked.

A base URL may carry a secret (`http://user:key@host/v1`, `…/v1?api-key=…`, a signed URL's `sig=`). The
URL itself is needed to send requests; everything that prints or stores one (errors, logs, reprs, result
and config files) goes through `redact_url`, or `redact_text` for text that may hold URLs, and
`redact_tree` for JSON-like values about to be written.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
CREDENTIAL_PARAM = re.compile(
    r"key|token|sig|secret|passw|pwd|auth|credential|session|cookie|bearer|jwt|^code$|^pass$|^access$", re.IGNORECASE
)
"""Query parameter names whose value is a secret (api-key, access_token, sig, X-Amz-Signature, …)."""
URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
_QUERY_PAIR = re.compile(r"([^&;=]*)(=?)([^&;]*)")


def _redact_query(query: str) -> str:
    def one(match: re.Match[str]) -> str:
        name, equals, value = match.groups()
        secret = equals and value and CREDENTIAL_PARAM.search(unquote(name))
        return f"{name}{equals}{MASK}" if secret else match.group(0)

    return _QUERY_PAIR.sub(one, query)


def redact_url(url: str) -> str:
    """`url` with its userinfo and the values of credential-like query parameters replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL we can take apart: hide whatever may follow the scheme
        return re.sub(r"//[^/?#]*@", f"//{MASK}@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_query(parts.query), _redact_query(parts.fragment)))


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (error messages, server answers, log lines)."""
    if "://" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        url = match.group(0).rstrip(".,:;!?)]}")  # sentence punctuation after a URL is not part of it
        return redact_url(url) + match.group(0)[len(url) :]

    return URL_IN_TEXT.sub(one, text)


def redact_tree(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string passed through `redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(item) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """Redacts URLs in a log record's message (HTTP client libraries log every request's full URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = RedactingFilter()
HTTP_LOGGERS = ("httpx", "httpx2", "httpcore", "openai", "urllib3", "litellm", "LiteLLM")


def install_log_redaction(names: tuple[str, ...] = HTTP_LOGGERS) -> None:
    """Attach the redacting filter to the loggers of the HTTP libraries (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
