"""Voice Live events checked against the typed models of the vendor's SDK (azure-ai-voicelive).

The SDK's models (azure-core `_model_base.Model`) deserialize leniently: unknown fields are
kept, wrong types pass through, an unknown discriminator falls back to the base class. This
walks the JSON against the models' declared `rest_field`s instead, recursively, so that an
unknown field, a wrong type, a missing required field or an unknown discriminator value is an
error naming the event type and the JSON path. Field tables are built once per model class.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
import functools
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any, ForwardRef, Literal, Union

from azure.ai.voicelive import _unions, models
from azure.ai.voicelive._utils.model_base import Model, _RestField
from azure.ai.voicelive.models import _models

from . import record

# ---- known divergences between the SDK's models and the API reference ---------------------
# Fields the SDK marks required that the reference (../shared/docs/voice-live.md) shows as
# absent or optional: a missing one is not an error. (model class, field)
OPTIONAL_PER_REFERENCE: set[tuple[str, str]] = {
    # "the API reference shows `.done` WITHOUT `name` (the SDK model has it)"
    ("ServerEventResponseFunctionCallArgumentsDone", "name"),
    # "The API reference's example has `cached_tokens` WITHOUT `cached_tokens_details`"
    ("InputTokenDetails", "cached_tokens_details"),
    # The reference's usage lists text, audio and cached tokens only: no image tokens.
    ("InputTokenDetails", "image_tokens"),
    ("CachedTokenDetails", "image_tokens"),
    # `pre_generated_assistant_message: {"content":[{"type":"text","text":"…"}]}`: the
    # reference's shape has no `type`/`role` (the SDK's AssistantMessageItem fills both in).
    ("AssistantMessageItem", "type"),
    ("AssistantMessageItem", "role"),
    # A caller's audio item as the service echoes it (conversation.item.created,
    # response.done output): {"type":"input_audio","transcript":null}, no audio. The reference:
    # "Voice Live speaks the OpenAI Realtime *preview* event format", whose items look like
    # that; the SDK reuses its request model (RequestAudioContentPart, audio required) here.
    ("RequestAudioContentPart", "audio"),
}

# Server event types the reference documents that the SDK has no model for: "Optional:
# `rate_limits.updated` ... ignore what you do not use, never crash on an unknown type".
# They are accepted unchecked.
UNMODELLED_SERVER_EVENTS: set[str] = {"rate_limits.updated"}

# Known violations in bot/ code, each with a TODO, so the suite stays green until they are
# fixed: (source, event type, error) where the error starts with the given text. None today.
EXPECTED_VIOLATIONS: set[tuple[str, str, str]] = set()


# ---- type specs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    kind: str  # any none str int float bool bytes literal list dict model union datetime
    args: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind == "literal":
            return " | ".join(repr(v) for v in self.args)
        if self.kind in ("list", "dict"):
            return f"{self.kind}[{self.args[0].describe()}]"
        if self.kind == "model":
            return self.args[0].__name__
        if self.kind == "union":
            return " | ".join(a.describe() for a in self.args)
        return self.kind


_NAMESPACE = {**vars(_models), "_models": models, "_unions": _unions}
_SCALARS = {str: "str", int: "int", float: "float", bool: "bool", type(None): "none"}


def _spec(tp: Any) -> Spec:
    """A Spec for one annotation of the SDK (forward references resolved in its namespace)."""
    if isinstance(tp, str):
        tp = ForwardRef(tp)
    if isinstance(tp, ForwardRef):
        return _spec(eval(tp.__forward_arg__, _NAMESPACE))  # the SDK's own annotation text
    if tp is Any:
        return Spec("any")
    if tp in _SCALARS:
        return Spec(_SCALARS[tp])
    if tp is datetime.datetime:
        return Spec("datetime")
    if tp is bytes:  # format="base64" on the wire
        return Spec("bytes")
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        alternatives: list[Spec] = []
        for arg in typing.get_args(tp):
            spec = _spec(arg)
            alternatives.extend(spec.args if spec.kind == "union" else [spec])
        if any(a.kind == "str" for a in alternatives):  # an open string enum: any str will do
            alternatives = [a for a in alternatives if a.kind != "literal"]
        return Spec("union", tuple(alternatives))
    if origin is Literal:
        return Spec("literal", tuple(getattr(v, "value", v) for v in typing.get_args(tp)))
    if origin is list:
        return Spec("list", (_spec(typing.get_args(tp)[0]),))
    if origin is dict:
        return Spec("dict", (_spec(typing.get_args(tp)[1]),))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return Spec("literal", tuple(m.value for m in tp))
    if isinstance(tp, type) and issubclass(tp, Model):
        return Spec("model", (tp,))
    raise TypeError(f"contract: no spec for SDK annotation {tp!r}")


@dataclass(frozen=True)
class Field:
    spec: Spec
    required: bool
    fmt: str | None


@dataclass(frozen=True)
class Schema:
    name: str
    fields: dict[str, Field]
    discriminator: str | None  # this class's own discriminator field (None: a concrete model)


@functools.cache
def schema(cls: type[Model], used: tuple[str, ...] = ()) -> Schema:
    """The declared fields of one model class (its MRO's rest_fields, last definition wins)."""
    mro = [c for c in reversed(cls.__mro__) if issubclass(c, Model) and c is not Model]
    rest: dict[str, tuple[Any, _RestField]] = {}
    for klass in mro:
        annotations = inspect.get_annotations(klass)
        for attr, value in klass.__dict__.items():
            if isinstance(value, _RestField) and not attr.startswith("_"):
                rest[value._rest_name_input or attr] = (annotations.get(attr, Any), value)
    fields: dict[str, Field] = {}
    for name, (annotation, rf) in rest.items():
        spec = _spec(annotation)
        optional = spec.kind == "union" and any(a.kind == "none" for a in spec.args)
        required = not optional and (cls.__name__, name) not in OPTIONAL_PER_REFERENCE
        fields[name] = Field(spec, required, rf._format)
    discriminator = None
    if cls.__dict__.get("__mapping__"):  # an empty mapping: a leaf reached directly
        for value in cls.__dict__.values():
            if isinstance(value, _RestField) and value._is_discriminator:
                if value._rest_name not in used:
                    discriminator = value._rest_name
                    break
    return Schema(cls.__name__, fields, discriminator)


# ---- the walk -----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _same_shape(value: Any, spec: Spec) -> bool:
    """The JSON value is an object/array and so is the alternative (worth looking inside)."""
    if isinstance(value, dict):
        return spec.kind in ("model", "dict")
    return isinstance(value, list) and spec.kind == "list"


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_value(value: Any, spec: Spec, path: str, errors: list[str], fmt: str | None) -> None:
    kind = spec.kind
    if kind == "any":
        return
    if kind == "union":
        if value is None and any(a.kind == "none" for a in spec.args):
            return
        attempts: list[list[str]] = []
        for alternative in spec.args:
            if alternative.kind == "none":
                continue
            found: list[str] = []
            check_value(value, alternative, path, found, fmt)
            if not found:
                return
            if _same_shape(value, alternative):
                attempts.append(found)
        if attempts:  # the right JSON type but wrong inside: the closest alternative's problems
            errors.extend(min(attempts, key=len))
        else:
            errors.append(f"{path}: expected {spec.describe()}, got {_kind(value)} {value!r:.60}")
        return
    ok = True
    if kind == "none":
        ok = value is None
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "bytes":
        ok = isinstance(value, str) and _is_base64(value)
    elif kind == "datetime":  # the SDK's "unix-timestamp" format: seconds as a number
        if fmt == "unix-timestamp":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
    elif kind == "literal":
        ok = isinstance(value, str | int | bool) and value in spec.args
    elif kind == "list":
        if isinstance(value, list):
            for i, item in enumerate(value):
                check_value(item, spec.args[0], _join(path, i), errors, None)
            return
        ok = False
    elif kind == "dict":
        if isinstance(value, dict):
            for key, item in value.items():
                check_value(item, spec.args[0], _join(path, key), errors, None)
            return
        ok = False
    elif kind == "model":
        if isinstance(value, dict):
            check_model(value, spec.args[0], path, errors)
            return
        ok = False
    if not ok:
        errors.append(f"{path or '<root>'}: expected {spec.describe()}, got {_kind(value)} "
                      f"{value!r:.60}")  # fmt: skip


def check_model(data: dict[str, Any], cls: type[Model], path: str, errors: list[str]) -> None:
    """Check one JSON object against a model class, following its discriminators."""
    used: tuple[str, ...] = ()
    info = schema(cls, used)
    while info.discriminator is not None:
        key = info.discriminator
        value = data.get(key)
        mapping: dict[str, type[Model]] = cls.__dict__["__mapping__"]
        if value not in mapping:
            known = ", ".join(sorted(mapping))
            errors.append(f"{_join(path, key)}: {value!r} is not a known {cls.__name__} "
                          f"discriminator (known: {known})")  # fmt: skip
            return
        used = (*used, key)
        cls = mapping[value]
        info = schema(cls, used)
    for key, value in data.items():
        field = info.fields.get(key)
        if field is None:
            errors.append(f"{_join(path, key)}: unknown field (not in the SDK's {info.name})")
            continue
        check_value(value, field.spec, _join(path, key), errors, field.fmt)
    for key, field in info.fields.items():
        if field.required and key not in data:
            errors.append(f"{_join(path, key)}: required field missing (SDK's {info.name})")


def _event_errors(event: Any, base: type[Model]) -> list[str]:
    if not isinstance(event, dict):
        return [f"<root>: expected an object, got {_kind(event)}"]
    errors: list[str] = []
    try:
        check_model(event, base, "", errors)
    except Exception as exc:  # a bug here must show up as a failure, not break the fake
        errors.append(f"<contract checker crashed: {exc!r}>")
    return errors


def client_event_errors(event: Any) -> list[str]:
    """Problems of one client event (the bot's, to Voice Live); [] when it fits the SDK."""
    return _event_errors(event, models.ClientEvent)


def server_event_errors(event: Any) -> list[str]:
    """Problems of one server event (a fake's or the local engine's); [] when it fits."""
    if isinstance(event, dict) and event.get("type") in UNMODELLED_SERVER_EVENTS:
        return []
    return _event_errors(event, models.ServerEvent)


def _unexpected(source: str, event: Any, errors: list[str]) -> list[str]:
    kind = event.get("type") if isinstance(event, dict) else None
    return [
        e
        for e in errors
        if not any((source, kind) == (s, t) and e.startswith(p) for s, t, p in EXPECTED_VIOLATIONS)
    ]


def check_client_event(event: Any, source: str) -> list[str]:
    """Record (and return) the problems of one client event."""
    errors = _unexpected(source, event, client_event_errors(event))
    record(source, _name(event), errors, event)
    return errors


def check_server_event(event: Any, source: str) -> list[str]:
    """Record (and return) the problems of one server event."""
    errors = _unexpected(source, event, server_event_errors(event))
    record(source, _name(event), errors, event)
    return errors


def _name(event: Any) -> str:
    kind = event.get("type") if isinstance(event, dict) else None
    event_id = event.get("event_id") if isinstance(event, dict) else None
    label = f"{kind!r} event" if isinstance(kind, str) else "event without a type"
    return f"{label} {event_id}" if event_id else label
