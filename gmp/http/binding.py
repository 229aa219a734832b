"""Binding a JSON body into a dataclass or attrs class, with a precise 400 on failure.

Gin's ``c.ShouldBindJSON(&obj)`` decodes with ``encoding/json`` and validates struct
tags; the Python equivalent is structuring a decoded document into a typed class, which
is what cattrs does (for attrs classes and dataclasses alike, nested classes, lists,
dicts, unions, enums, literals), so gmp uses it rather than a converter of its own.

cattrs converts leniently by default (``int("5")``, ``str(1)``, a string iterated as a
list); a JSON API should reject ``{"age": "5"}`` for an ``int`` field the way
``encoding/json`` does, so the converter here checks JSON types strictly: ``str``,
``int``, ``float`` and ``bool`` fields (an ``int`` is accepted for a ``float``; ``true``
is not an ``int``), lists (a JSON array), dicts and classes (a JSON object), and
``Literal`` fields (one of the listed values, of the same JSON type). The body must be
UTF-8 (RFC 8259), not UTF-16 or UTF-32.

Every problem in a body is reported at once, each with its JSONPath-like location::

    400 {"error": "invalid request body",
         "fields": ["$.age: expected an integer, got str",
                    "$.name: required field missing"]}

A class with pydantic's ``model_validate`` is validated by pydantic instead, with its
errors reported the same way; pydantic is not a dependency of gmp.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, Literal, TypeVar, get_origin

import attrs
import cattrs
from cattrs.cols import is_mapping, is_sequence, list_structure_factory, mapping_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn
from cattrs.v import format_exception, transform_error

from gmp.http.errors import BadRequest

__all__ = ["BindError", "bind", "decode_json"]

T = TypeVar("T")


class BindError(BadRequest):
    """400: the body is not valid JSON, or does not fit the class it is bound into.

    ``errors`` lists each problem as ``"<path>: <what is wrong>"``; the response body
    carries them as ``fields``.
    """

    def __init__(self, detail: str, errors: list[str] | None = None) -> None:
        self.errors = errors or []
        super().__init__(detail, extra={"fields": self.errors} if self.errors else None)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _strict(expected: str, ok: Any) -> Any:
    def hook(value: Any, _type: Any) -> Any:
        if not ok(value):
            raise TypeError(f"expected {expected}, got {_json_type(value)}")
        return value

    return hook


def _float(value: Any, _type: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {_json_type(value)}")
    return float(value)


def _checked(expected: str, json_type: type, inner: Any) -> Any:
    """``inner`` (cattrs' own hook) after a check of the JSON type: cattrs would iterate a
    string as a list and report an object's missing field for a string."""

    def hook(value: Any, type_: Any) -> Any:
        if not isinstance(value, json_type):
            raise TypeError(f"expected {expected}, got {_json_type(value)}")
        return inner(value, type_)

    return hook


def _is_record(type_: Any) -> bool:
    return isinstance(type_, type) and (attrs.has(type_) or dataclasses.is_dataclass(type_))


def _is_array(type_: Any) -> bool:
    # a tuple type is a fixed-shape array, left to cattrs; a JSON array is a list anyway
    return is_sequence(type_) and getattr(type_, "__origin__", type_) is not tuple


def _is_literal(type_: Any) -> bool:
    return get_origin(type_) is Literal


def _literal(value: Any, type_: Any) -> Any:
    choices = []
    for allowed in type_.__args__:
        if isinstance(allowed, enum.Enum):
            if value == allowed.value and type(value) is type(allowed.value):
                return allowed
            allowed = allowed.value
        elif value == allowed and type(value) is type(allowed):  # true is not 1
            return value
        choices.append(json.dumps(allowed))
    raise TypeError(f"expected one of {', '.join(choices)}, got {json.dumps(value)[:64]}")


def _make_converter(forbid_extra: bool) -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=forbid_extra, detailed_validation=True)
    conv.register_structure_hook_factory(
        _is_record, lambda t: _checked("an object", dict, make_dict_structure_fn(t, conv))
    )
    conv.register_structure_hook_factory(
        _is_array, lambda t: _checked("an array", list, list_structure_factory(t, conv))
    )
    conv.register_structure_hook_factory(
        is_mapping, lambda t: _checked("an object", dict, mapping_structure_factory(t, conv))
    )
    conv.register_structure_hook_factory(_is_literal, lambda t: _literal)
    conv.register_structure_hook(str, _strict("a string", lambda v: isinstance(v, str)))
    conv.register_structure_hook(
        int,
        _strict("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    )
    conv.register_structure_hook(bool, _strict("a boolean", lambda v: isinstance(v, bool)))
    conv.register_structure_hook(float, _float)
    return conv


_LENIENT = _make_converter(False)
_STRICT = _make_converter(True)


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, TypeError) and str(exc).startswith("expected "):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown fields: {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, AttributeError) and "keys" in str(exc):
        return "expected an object"
    if isinstance(exc, ValueError) and type_ is not None:
        return f"invalid value for {getattr(type_, '__name__', type_)!s}: {exc}"
    return format_exception(exc, type_)


def _located(messages: list[str]) -> list[str]:
    # cattrs says "<what> @ <where>"; a reader scans for the field first.
    out = []
    for m in messages:
        what, sep, where = m.rpartition(" @ ")
        out.append(f"{where}: {what}" if sep else m)
    return out


def _pydantic_path(loc: Any) -> str:
    # ("items", 0, "sku") -> "$.items[0].sku", the form cattrs' errors take
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def decode_json(body: bytes) -> Any:
    """Parse ``body`` as JSON (UTF-8), raising :class:`BindError` with the position."""
    if not body:
        raise BindError("request body is empty, expected JSON")
    try:
        # decoded here: json.loads(bytes) would also take UTF-16 and UTF-32 (RFC 8259: UTF-8)
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BindError(f"request body is not UTF-8: {e.reason} at byte {e.start}") from None
    except json.JSONDecodeError as e:
        raise BindError(
            f"request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None


def bind(data: Any, cls: type[T], *, strict: bool = False) -> T:
    """Structure decoded JSON ``data`` into ``cls``; :class:`BindError` lists what is wrong.

    ``strict``: unknown fields are an error (Gin's ``DisallowUnknownFields``); by
    default they are ignored, as ``encoding/json`` does.
    """
    validate = getattr(cls, "model_validate", None)
    if validate is not None:  # a pydantic model
        try:
            return validate(data)  # type: ignore[no-any-return]
        except ValueError as e:
            errs = getattr(e, "errors", None)
            if callable(errs):
                fields = [
                    f"{_pydantic_path(err.get('loc', ()))}: {err.get('msg', '')}" for err in errs()
                ]
                raise BindError("invalid request body", fields) from None
            raise BindError(f"invalid request body: {e}") from None
    is_record = isinstance(cls, type) and (attrs.has(cls) or dataclasses.is_dataclass(cls))
    if is_record and not isinstance(data, dict):
        raise BindError("invalid request body", [f"$: expected an object, got {_json_type(data)}"])
    conv = _STRICT if strict else _LENIENT
    try:
        return conv.structure(data, cls)
    except (ClassValidationError, IterableValidationError) as e:
        raise BindError(
            "invalid request body", _located(transform_error(e, "$", _format))
        ) from None
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise BindError("invalid request body", [f"$: {_format(e, cls)}"]) from None
