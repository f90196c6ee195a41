"""What ``harness plugins NAME`` shows about one plugin: its summary and its options, one block per option.

The options come from the plugin's ``Options`` model (pydantic): each field's name, type (with
its bounds), default and description: ``Field(description=...)``, else the comment that ends the
field's line in the source (``root: Path  # the dataset directory``), or the comment lines just
above the field, the way plugins document their options.
"""

from __future__ import annotations

import inspect
import io
import re
import textwrap
import tokenize
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo

from harness.plugin.contract import Plugin, PluginOptions

_MODULE_PATH = re.compile(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)")  # typing.Literal -> Literal
_BOUNDS = (
    (annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "<="),
    (annotated_types.Lt, "lt", "<"), (annotated_types.MinLen, "min_length", "length >="),
    (annotated_types.MaxLen, "max_length", "length <="),
)


@dataclass(frozen=True)
class OptionRow:
    """One option of a plugin, as text."""

    name: str
    type: str
    default: str
    description: str


def plain(text: str) -> str:
    """Docstring text for a terminal: reStructuredText quotes (``x``) dropped."""
    return re.sub(r"``(.+?)``", r"\1", text)


def summary(cls: type[Plugin[Any]]) -> str:
    """The first paragraph of a plugin's docstring, on one line ('' when it has none of its own)."""
    doc = inspect.getdoc(cls) if cls.__doc__ else None
    return " ".join(plain(doc).split("\n\n")[0].split()) if doc else ""


def type_text(annotation: Any) -> str:
    """A type as a reader writes it: 'int | None', "Literal['a', 'b']", 'list[str]', 'Path'."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return _MODULE_PATH.sub(r"\1", str(annotation))


def _bounds(field: FieldInfo) -> list[str]:
    texts = []
    for item in field.metadata:
        for kind, attribute, symbol in _BOUNDS:
            if isinstance(item, kind):
                texts.append(f"{symbol} {getattr(item, attribute)}")
    return texts


def default_text(field: FieldInfo) -> str:
    """The default as YAML-ish text; 'required' for a field without one."""
    if field.is_required():
        return "required"
    try:
        value = field.get_default(call_default_factory=True, validated_data={})
    except Exception:  # noqa: BLE001 - a factory that needs the other fields: say so rather than fail
        return "(computed)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def source_comments(options: type) -> dict[str, str]:
    """Field name -> the comment ending its line in the class source (and in its bases'); {} without source."""
    comments: dict[str, str] = {}
    fields = getattr(options, "model_fields", {})
    for klass in reversed(options.__mro__):  # a subclass's comment wins over its base's
        if not (issubclass(klass, PluginOptions) and klass is not PluginOptions):
            continue  # pydantic's own classes have comments too
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        try:
            comments.update(_field_comments(source, fields))
        except (tokenize.TokenError, IndentationError):
            continue
    return comments


def _field_comments(source: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """Field name -> the comment ending its line, else the comment lines just above it, in one class's source."""
    names: dict[int, str] = {}  # line -> the field whose statement starts there
    above: list[str] = []  # the comment lines since the last statement
    found: dict[str, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.line[: token.start[1]].strip() == "":
            above.append(token.string.lstrip("#").strip())
        elif token.type == tokenize.COMMENT and names.get(token.start[0]) in fields:
            found[names[token.start[0]]] = token.string.lstrip("#").strip()
        elif token.type == tokenize.NAME and token.start[1] == 4 and token.start[0] not in names:
            names[token.start[0]] = token.string
            if token.string in fields and above:
                found[token.string] = " ".join(above)
            above = []
        elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE):
            above = []
    return found


def option_rows(cls: type[Plugin[Any]]) -> list[OptionRow]:
    """One row per option of a plugin (empty when it takes no options)."""
    rows = []
    comments = source_comments(cls.Options)
    for name, field in cls.Options.model_fields.items():
        kind = type_text(field.annotation)
        bounds = _bounds(field)
        rows.append(OptionRow(name, f"{kind}, {', '.join(bounds)}" if bounds else kind, default_text(field),
                              plain(field.description or comments.get(name, ""))))
    return rows


def option_lines(rows: list[OptionRow], width: int) -> list[str]:
    """The options as a list that fits ``width`` columns: per option its name (never split), type and default
    on one line, then its description, wrapped and indented under it."""
    lines: list[str] = []
    for row in rows:
        head = f"  {row.name}  {row.type}; default {row.default}"
        lines += textwrap.wrap(head, width, subsequent_indent=" " * 6, break_on_hyphens=False) or [head]
        lines += textwrap.wrap(row.description, width, initial_indent=" " * 6, subsequent_indent=" " * 6,
                               break_on_hyphens=False)
    return lines

