"""TwiML documents and REST requests checked with twilio-python's own classes.

TwiML: which verbs nest where and which attributes each takes is read once from
`twilio.twiml.voice_response` (each `parent.method(...)` that does `self.nest(Child(...))`);
a document is walked against that, then rebuilt with those very methods and compared, so
it must be exactly what twilio-python would emit. REST: the form fields twilio-python's
`CallList.create` and `CallContext.update` send are read from their source.
"""

from __future__ import annotations

import ast
import functools
import inspect
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from twilio import twiml as twiml_base
from twilio.rest.api.v2010.account import call as call_module
from twilio.twiml import voice_response

from . import record

ROOT = "Response"


@dataclass(frozen=True)
class Verb:
    """One way to nest a verb: parent.method(text?, **params) -> <tag attr=...>."""

    method: str
    cls: str  # twilio-python class name of the child
    tag: str
    attrs: dict[str, str]  # XML attribute -> method parameter
    text_param: str | None  # the method parameter that becomes the element's text
    required: frozenset[str]  # method parameters without a default


def _xml_attr(kwarg: str) -> str:
    return twiml_base.lower_camel(twiml_base.TwiML.MAP.get(kwarg, kwarg))


@functools.cache
def _grammar() -> tuple[dict[str, str], dict[str, dict[str, list[Verb]]]]:
    """(class -> tag, parent class -> {child tag -> ways to nest it}) from the module source."""
    tree = ast.parse(inspect.getsource(voice_response))
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    tags: dict[str, str] = {}
    values: dict[str, list[str]] = {}  # class -> its constructor's own parameters (the text)
    for node in classes:
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                values[node.name] = [a.arg for a in item.args.args[1:]]
        for sub in ast.walk(node):
            if (
                isinstance(sub, ast.Assign)
                and isinstance(sub.value, ast.Constant)
                and any(ast.unparse(t) == "self.name" for t in sub.targets)
            ):
                tags[node.name] = sub.value.value
    children: dict[str, dict[str, list[Verb]]] = {}
    for node in classes:
        ways: dict[str, list[Verb]] = {}
        for method in node.body:
            if not isinstance(method, ast.FunctionDef) or method.name.startswith("_"):
                continue
            call = _nested_call(method)
            if call is None or call.func.id not in tags:  # type: ignore[attr-defined]
                continue
            params = [a.arg for a in method.args.args[1:]]
            defaults = len(method.args.defaults)
            required = frozenset(params[: len(params) - defaults])
            child = call.func.id  # type: ignore[attr-defined]
            own = values.get(child, [])
            text = [a.id for a in call.args if isinstance(a, ast.Name)]
            text += [
                k.value.id  # type: ignore[attr-defined]
                for k in call.keywords
                if k.arg in own and isinstance(k.value, ast.Name)
            ]
            attrs = {
                _xml_attr(k.arg): k.value.id  # type: ignore[attr-defined]
                for k in call.keywords
                if k.arg is not None and k.arg not in own and isinstance(k.value, ast.Name)
            }
            verb = Verb(method.name, child, tags[child], attrs, text[0] if text else None, required)
            ways.setdefault(verb.tag, []).append(verb)
        children[node.name] = ways
    return tags, children


def _nested_call(method: ast.FunctionDef) -> ast.Call | None:
    """The `Child(...)` in `return self.nest(Child(...))`, if the method is that."""
    for statement in method.body:
        if isinstance(statement, ast.Return) and isinstance(statement.value, ast.Call):
            outer = statement.value
            if ast.unparse(outer.func) == "self.nest" and outer.args:
                inner = outer.args[0]
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
                    return inner
    return None


def _text(text: str | None) -> str:
    return (text or "").strip()


def _walk(el: ElementTree.Element, cls: str, path: str, errors: list[str], built: Any) -> None:
    """Check el's children against class `cls` and rebuild them under `built`."""
    _tags, children = _grammar()
    ways = children.get(cls, {})
    for index, child in enumerate(el):
        where = f"{path}/{child.tag}[{index}]"
        options = ways.get(child.tag)
        if not options:
            allowed = ", ".join(sorted(ways)) or "nothing"
            errors.append(f"{where}: <{child.tag}> is not allowed in <{el.tag}> "
                          f"(twilio-python allows: {allowed})")  # fmt: skip
            continue
        verb = next((v for v in options if set(child.attrib) <= set(v.attrs)), options[0])
        kwargs: dict[str, Any] = {}
        for name, value in child.attrib.items():
            param = verb.attrs.get(name)
            if param is None:
                known = ", ".join(sorted(verb.attrs)) or "none"
                errors.append(f"{where}/@{name}: not an attribute twilio-python's "
                              f"{cls}.{verb.method}() emits (known: {known})")  # fmt: skip
                continue
            kwargs[param] = value
        text = _text(child.text)
        if text:
            if verb.text_param is None:
                errors.append(f"{where}: <{child.tag}> takes no text")
            else:
                kwargs[verb.text_param] = text
        missing = verb.required - set(kwargs)
        for param in sorted(missing):
            errors.append(f"{where}: {cls}.{verb.method}() requires {param!r}")
        if missing:
            continue
        if any(_text(c.tail) for c in child):
            errors.append(f"{where}: text between child elements is not supported here")
        try:
            rebuilt = getattr(built, verb.method)(**kwargs)
        except Exception as exc:
            errors.append(f"{where}: twilio-python refuses it: {exc!r}")
            continue
        _walk(child, verb.cls, where, errors, rebuilt)


def _canonical(el: ElementTree.Element) -> Any:
    return (el.tag, sorted(el.attrib.items()), _text(el.text), [_canonical(c) for c in el])


def twiml_errors(document: str) -> list[str]:
    """Problems of one TwiML document; [] when twilio-python builds exactly the same thing."""
    try:
        root = ElementTree.fromstring(document.encode() if isinstance(document, str) else document)
    except ElementTree.ParseError as exc:
        return [f"<root>: not well-formed XML ({exc})"]
    if root.tag != ROOT:
        return [f"/{root.tag}: the root must be <{ROOT}>"]
    errors: list[str] = []
    if root.attrib:
        errors.append(f"/{ROOT}: takes no attributes, has {sorted(root.attrib)}")
    if _text(root.text):
        errors.append(f"/{ROOT}: takes no text")
    built = voice_response.VoiceResponse()
    _walk(root, "VoiceResponse", f"/{ROOT}", errors, built)
    if not errors:
        again = ElementTree.fromstring(built.to_xml())
        if _canonical(again) != _canonical(root):
            errors.append(f"/{ROOT}: twilio-python rebuilds it differently: {built.to_xml()}")
    return errors


def check_twiml(document: Any, name: str, source: str) -> list[str]:
    """Record (and return) the problems of one TwiML document."""
    text = document.decode() if isinstance(document, bytes) else str(document)
    errors = twiml_errors(text)
    record(source, f"TwiML {name}", errors, text)
    return errors


# ---- REST -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    fields: frozenset[str]
    lists: frozenset[str]  # sent once per element (serialize.map)
    booleans: frozenset[str]  # serialize.boolean_to_string: "true" / "false"


@functools.cache
def rest_form(operation: str) -> Form:
    """The form fields twilio-python sends for "create" (CallList) or "update" (CallContext)."""
    owner, method = {"create": ("CallList", "_create"), "update": ("CallContext", "_update")}[
        operation
    ]
    source = inspect.getsource(getattr(getattr(call_module, owner), method))
    tree = ast.parse(inspect.cleandoc("\n" + source) if source[0] == " " else source)
    fields, lists, booleans = set(), set(), set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and ast.unparse(node.targets[0]) == "data"
            and isinstance(node.value, ast.Call)
            and node.value.args
            and isinstance(node.value.args[0], ast.Dict)
        ):
            for key, value in zip(node.value.args[0].keys, node.value.args[0].values, strict=True):
                if not isinstance(key, ast.Constant):
                    continue
                fields.add(key.value)
                serializer = ast.unparse(value.func) if isinstance(value, ast.Call) else ""
                if serializer == "serialize.map":
                    lists.add(key.value)
                elif serializer == "serialize.boolean_to_string":
                    booleans.add(key.value)
    if not fields:
        raise RuntimeError(f"contract: no form fields found in twilio-python's {owner}.{method}")
    return Form(frozenset(fields), frozenset(lists), frozenset(booleans))


def rest_errors(operation: str, form: dict[str, list[str]]) -> list[str]:
    """Problems of one Calls request's form (name -> values as posted)."""
    spec = rest_form(operation)
    errors: list[str] = []
    for name, values in form.items():
        if name not in spec.fields:
            errors.append(f"{name}: not a field twilio-python's Calls {operation} sends")
            continue
        if len(values) > 1 and name not in spec.lists:
            errors.append(f"{name}: sent {len(values)} times; twilio-python sends it once")
        if name in spec.booleans and any(v not in ("true", "false") for v in values):
            errors.append(f"{name}: {values!r}, twilio-python sends 'true' or 'false'")
        if name == "Twiml":
            errors.extend(f"Twiml {e}" for e in twiml_errors(values[-1]))
    return errors


def check_rest(operation: str, form: dict[str, list[str]], source: str) -> list[str]:
    """Record (and return) the problems of one REST request to the Calls resource."""
    errors = rest_errors(operation, form)
    record(source, f"Calls {operation} request", errors, form)
    return errors
