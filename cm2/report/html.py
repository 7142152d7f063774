"""Self-contained HTML pages: Jinja templates (autoescaped) with the CSS, the viewer's JS and its data inline."""

from __future__ import annotations

import base64
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from cm2.report.view_models import ViewData

if TYPE_CHECKING:
    from jinja2 import Environment
    from markupsafe import Markup


def asset(name: str) -> str:
    """A file shipped under `cm2/report/static/`."""
    return resources.files("cm2.report").joinpath("static", name).read_text(encoding="utf-8")


@cache
def environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("cm2.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def script_json(data: ViewData) -> Markup:
    """The view data as JSON that is safe inside a `<script>` element.

    `<`, `>` and `&` become JSON `\\uXXXX` escapes, so no string in the data (policy output included)
    can close the script element; U+2028/2029 are escaped for older JavaScript parsers.
    """
    from markupsafe import Markup

    text = data.model_dump_json(exclude_none=True)
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return Markup(text)


def _inline(text: str, closing: str) -> Markup:
    from markupsafe import Markup

    if closing in text.lower():
        raise ValueError(f"an inline asset must not contain {closing!r}")
    return Markup(text)


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _page(template: str, data: ViewData, context: dict[str, Any]) -> str:
    return (
        environment()
        .get_template(template)
        .render(
            css=_inline(asset("report.css"), "</style"),
            viewer_js=_inline(asset("viewer.js"), "</script"),
            view_json=script_json(data),
            **context,
        )
    )


def render_view(data: ViewData, subtitle: str) -> str:
    """The standalone trajectory viewer page."""
    return _page("view.html.jinja", data, {"title": data.title, "subtitle": subtitle})


def render_report(data: ViewData, context: dict[str, Any]) -> str:
    """The run report page: `context` holds title, subtitle, runs, notes, figures and viewer_caption."""
    return _page("report.html.jinja", data, context)
