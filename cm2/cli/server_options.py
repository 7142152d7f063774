"""Options shared by `cm2 serve` and `cm2 llm serve`: who may talk to the server (`cm2.llm.guard`)."""

from __future__ import annotations

from typing import Annotated

import typer

from cm2.llm.guard import GuardConfig

AllowedHosts = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-host",
        help="Extra Host name clients may use (repeatable; localhost, 127.0.0.1, [::1] and --host always are); "
        "'*' accepts any (behind a proxy).",
    ),
]
ServerKeyEnv = Annotated[
    str | None,
    typer.Option(help="Environment variable holding an API key clients must send as 'Authorization: Bearer'."),
]


def guard_config(host: str, allowed_hosts: list[str] | None, api_key_env: str | None) -> GuardConfig:
    """The guard for a server bound to `host`; exits with a one-line error when the key variable is unset."""
    config = GuardConfig(bound_host=host, allowed_hosts=allowed_hosts or [], api_key_env=api_key_env)
    try:
        config.api_key()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return config
