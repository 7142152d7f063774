"""PythonTools: real callables as tools, specs from signatures and docstrings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel
from tools_builders import tool_call

from cm2.schema import FunctionSpec, ToolSpec
from cm2.tools import PythonTools, ToolResult, is_tool_error, spec_from_callable


@dataclasses.dataclass
class Account:
    owner: str
    balance: float


class Receipt(BaseModel):
    amount: float
    tags: tuple[str, ...]


class Bank:
    """A stateful backend: its public methods are the tools."""

    def __init__(self) -> None:
        self.accounts = {"alice": Account("alice", 10.0)}
        self.property_reads = 0

    @property
    def total(self) -> float:
        self.property_reads += 1
        return sum(a.balance for a in self.accounts.values())

    def deposit(self, owner: str, amount: float, note: str | None = None) -> dict[str, float]:
        """Add money to an account.

        Args:
            owner: Who owns the account.
            amount: How much to add, in euros.
            note: Free text kept with the deposit.
        """
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.accounts[owner].balance += amount
        return {"balance": self.accounts[owner].balance}

    def account(self, owner: str) -> Account:
        """Look an account up."""
        return self.accounts[owner]

    async def receipt(self, amount: float, currency: Literal["EUR", "NOK"] = "EUR") -> Receipt:
        """Make a receipt."""
        await asyncio.sleep(0)
        return Receipt(amount=amount, tags=(currency, "paid"))

    def _secret(self) -> None:
        raise AssertionError("private methods are not tools")


def run(tools: PythonTools, name: str, arguments: str | dict[str, Any]) -> ToolResult:
    return asyncio.run(tools.call(tool_call(name, arguments)))


def test_public_methods_become_tools_and_keep_state() -> None:
    bank = Bank()
    tools = PythonTools(bank)
    assert sorted(spec.name for spec in tools.tools) == ["account", "deposit", "receipt"]
    assert bank.property_reads == 0
    first = run(tools, "deposit", {"owner": "alice", "amount": 5})
    second = run(tools, "deposit", '{"owner": "alice", "amount": 2.5}')
    assert (first.source, json.loads(first.content), json.loads(second.content)) == (
        "executed",
        {"balance": 15.0},
        {"balance": 17.5},
    )
    assert json.loads(run(tools, "account", {"owner": "alice"}).content) == {"owner": "alice", "balance": 17.5}


def test_results_of_any_kind_are_json_and_coroutines_are_awaited() -> None:
    result = run(PythonTools(Bank()), "receipt", {"amount": 3})
    assert json.loads(result.content) == {"amount": 3.0, "tags": ["EUR", "paid"]}


def test_spec_comes_from_signature_and_docstring() -> None:
    spec = spec_from_callable("deposit", Bank().deposit).function
    assert spec.description == "Add money to an account."
    params = spec.parameters
    assert params["required"] == ["owner", "amount"]
    assert params["properties"]["amount"] == {"type": "number", "description": "How much to add, in euros."}
    assert params["properties"]["note"]["default"] is None
    assert {"type": "null"} in params["properties"]["note"]["anyOf"]
    receipt = spec_from_callable("receipt", Bank().receipt).function.parameters
    assert receipt["properties"]["currency"] == {"type": "string", "enum": ["EUR", "NOK"], "default": "EUR"}
    for tool in PythonTools(Bank()).tools:
        jsonschema.Draft202012Validator.check_schema(tool.function.parameters)


@pytest.mark.parametrize(
    ("name", "arguments", "code", "fragment"),
    [
        ("withdraw", {}, "unknown_tool", "withdraw"),
        ("_secret", {}, "unknown_tool", "_secret"),
        ("deposit", "[1]", "invalid_arguments", "not an object"),
        ("deposit", {"owner": "alice", "amount": "five"}, "schema_violation", "amount"),
        ("deposit", {"owner": "alice", "amount": -1}, "tool_exception", "ValueError: amount must be positive"),
        ("account", {"owner": "bob"}, "tool_exception", "KeyError"),
    ],
)
def test_failures_are_error_objects(name: str, arguments: str | dict[str, Any], code: str, fragment: str) -> None:
    result = run(PythonTools(Bank()), name, arguments)
    assert result.source == "error" and result.error_code == code and is_tool_error(result.content)
    assert fragment in json.loads(result.content)["error_tool_call"]["message"]


def test_plain_functions_with_given_specs_and_no_schema_check() -> None:
    calls: list[tuple[int, int]] = []

    def add(a, b):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return a + b

    spec = ToolSpec(function=FunctionSpec(name="add", parameters={"type": "object", "properties": {}}))
    tools = PythonTools({"add": add}, [spec], validate_schema=False)
    assert run(tools, "add", {"a": 2, "b": 3}).content == "5"
    extra = run(tools, "add", {"a": 1, "b": 2, "c": 3})
    assert extra.error_code == "invalid_arguments" and "c" in json.loads(extra.content)["error_tool_call"]["message"]
    assert calls == [(2, 3)]
    with pytest.raises(ValueError, match="missing"):
        PythonTools({}, [ToolSpec(function=FunctionSpec(name="missing"))])
