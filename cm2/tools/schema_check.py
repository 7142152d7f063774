"""Checking call arguments against a tool's JSON schema, with validators built once per schema."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

from cm2.tools.canonical import canonical_json

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4096)
def _validator(schema_text: str) -> Validator | None:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        logger.warning("tool parameter schema is not a valid JSON schema, arguments go unchecked: %s", exc.message)
        return None
    return cls(schema)


def validator_for(schema: dict[str, Any]) -> Validator | None:
    """The cached validator of `schema`, or None when the schema itself is invalid (nothing to check against)."""
    return _validator(canonical_json(schema))


def schema_violation(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """The most relevant violation of `schema` by `arguments`, as `where: message`, or None when they conform."""
    validator = validator_for(schema)
    if validator is None:
        return None
    error = best_match(validator.iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(arguments)"
    return f"{where}: {error.message}"
