"""Plain Python functions as tools the model can call: schema out, arguments in, result as text.

```python
def weather(location: str, unit: Literal["C", "F"] = "C") -> str:
    \"\"\"Current weather for a place.

    location: the city, e.g. "Florence"
    unit: temperature unit
    \"\"\"

reply = client.chat("Weather in Florence?", tools=[weather])   # runs the loop (toolloop.py)
```

The JSON schema of the parameters comes from pydantic v2 (`create_model` over the signature):
it is maintained, follows JSON Schema, and knows every type a notebook user writes — str, int,
float, bool, `Literal`, `Enum`, `list[...]`, `dict[...]`, `Optional`, dataclasses, `TypedDict`,
pydantic models, `Annotated[..., Field(description=...)]` — and the same model validates the
model's arguments and converts them back (dicts into dataclasses, strings into Enum members).
The description and the per-argument descriptions come from the docstring, parsed by
`docstring_parser` (Google, NumPy, reST/Sphinx); a bare `name: description` line naming a
parameter also counts. pydantic is imported only when a tool is built.

Raw tool dicts in the OpenAI shape are passed through untouched and never run.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Tool",
    "ToolArgumentsError",
    "ToolSet",
    "tool",
    "runs_tools",
    "result_text",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BARE_PARAM = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:\s+(\S.*)$")
# What was built for a function, without the function itself (a strong reference to the key would
# keep it alive): schemas cost milliseconds and every chat builds its ToolSet anew.
_BUILT: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


class ToolArgumentsError(ValueError):
    """The model's arguments for a tool are not valid JSON or do not fit the parameters."""


@dataclass(frozen=True, eq=False)
class Tool:
    """A Python function the model may call: its name, description and parameter schema.

    Calling the `Tool` calls the function. Build one with `tool(fn)` or `@tool`.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any] = field(repr=False)
    _model: Any = field(default=None, repr=False)
    _positional: tuple[str, ...] = field(default=(), repr=False)
    _extra: bool = field(default=False, repr=False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    @property
    def is_async(self) -> bool:
        """True for `async def` functions (and objects with an `async def __call__`)."""
        fn = self.function
        return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004 (the method, not callable())

    def schema(self) -> dict[str, Any]:
        """The wire form: `{"type": "function", "function": {name, description, parameters}}`."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def bind(self, arguments: str | Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """`(args, kwargs)` for the function from the model's JSON arguments, validated.

        Raises `ToolArgumentsError` with a one-line reason.
        """
        from pydantic import ValidationError

        if isinstance(arguments, str):
            try:
                data = json.loads(arguments) if arguments.strip() else {}
            except ValueError as exc:
                raise ToolArgumentsError(f"arguments are not valid JSON ({exc})") from None
            except RecursionError:
                raise ToolArgumentsError("arguments are nested too deeply to read") from None
        else:
            data = dict(arguments)
        if not isinstance(data, dict):
            raise ToolArgumentsError("arguments must be a JSON object")
        try:
            parsed = self._model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolArgumentsError(problems) from None
        except RecursionError:
            raise ToolArgumentsError("arguments are nested too deeply to check") from None
        values = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        if self._extra:
            values.update(parsed.model_extra or {})
        args = [values.pop(name) for name in self._positional]
        return args, values


def _doc_parts(fn: Callable[..., Any], names: Iterable[str]) -> tuple[str, dict[str, str]]:
    """The description and `{parameter: description}` from the function's docstring."""
    import docstring_parser

    doc = inspect.getdoc(fn) or ""
    if not doc:
        return "", {}
    parsed = docstring_parser.parse(doc)
    params = {p.arg_name: " ".join((p.description or "").split()) for p in parsed.params}
    parts = [parsed.short_description or "", parsed.long_description or ""]
    if not params:
        # The bare form: "location: the city" lines naming parameters.
        wanted, kept = set(names), []
        for line in (parsed.long_description or "").splitlines():
            match = _BARE_PARAM.match(line)
            if match and match.group(1) in wanted:
                params[match.group(1)] = match.group(2).strip()
            else:
                kept.append(line)
        parts[1] = "\n".join(kept)
    description = "\n\n".join(part.strip() for part in parts if part and part.strip())
    return description, {k: v for k, v in params.items() if v}


def _strip_titles(node: Any) -> Any:
    """pydantic's `title` keys are noise to a model; drop them (keep properties named title)."""
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _strip_titles(sub) for name, sub in value.items()}
        else:
            out[key] = _strip_titles(value)
    return out


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace `$ref`s into `$defs` by the definitions, unless a definition refers to itself."""
    defs = schema.get("$defs")
    if not defs:
        return schema

    def expand(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [expand(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/") :]
            if name in seen:
                raise RecursionError(name)
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**expand(defs[name], (*seen, name)), **expand(rest, seen)}
        return {k: expand(v, seen) for k, v in node.items()}

    try:
        expanded: dict[str, Any] = expand({k: v for k, v in schema.items() if k != "$defs"}, ())
        return expanded
    except RecursionError:
        return schema  # a recursive type: keep `$defs`


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Make `fn` a `Tool` (also a decorator: `@tool` or `@tool(name=...)`).

    The name defaults to the function's, the description to its docstring. Every parameter
    except `*args` needs a type pydantic can describe; a parameter without a hint takes any
    JSON value. Raises `TypeError` naming the parameter when a type has no JSON schema.
    """
    if fn is None:
        return lambda f: tool(f, name=name, description=description)
    if isinstance(fn, Tool):
        return fn
    if name is None and description is None:
        try:
            cached = _BUILT.get(fn)
        except TypeError:  # not weak-referenceable or not hashable
            cached = None
        if cached is not None:
            return Tool(function=fn, **cached)
        made = _build(fn, None, None)
        try:
            _BUILT[fn] = {
                f.name: getattr(made, f.name) for f in dataclasses.fields(made) if f.name != "function"
            }
        except TypeError:
            pass
        return made
    return _build(fn, name, description)


def _build(fn: Callable[..., Any], name: str | None, description: str | None) -> Tool:
    from pydantic import ConfigDict, Field, create_model
    from pydantic.errors import PydanticUserError
    from pydantic.json_schema import PydanticInvalidForJsonSchema

    tool_name = name or getattr(fn, "__name__", None) or type(fn).__name__
    if not _NAME.match(tool_name):
        raise ValueError(
            f"{tool_name!r} is not a valid tool name (letters, digits, _ and -, at most 64): pass name=..."
        )
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        hints = {}
    params = [
        p for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]  # fmt: skip
    doc_description, doc_params = _doc_parts(fn, [p.name for p in params])
    fields: dict[str, Any] = {}
    for p in params:
        annotation = hints.get(p.name, p.annotation)
        if annotation is inspect.Parameter.empty:
            annotation = Any
        default = ... if p.default is inspect.Parameter.empty else p.default
        described = p.name in doc_params  # else an Annotated Field's own description stays
        field = Field(default, description=doc_params[p.name]) if described else Field(default)
        fields[p.name] = (annotation, field)
    has_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    config = ConfigDict(
        protected_namespaces=(), arbitrary_types_allowed=True,
        extra="allow" if has_kwargs else "ignore",
    )  # fmt: skip
    model_name = re.sub(r"\W", "_", tool_name)
    try:
        model = create_model(model_name, __config__=config, **fields)
        parameters = model.model_json_schema()
    except (PydanticInvalidForJsonSchema, PydanticUserError, TypeError) as exc:
        raise TypeError(f"tool {tool_name}: a parameter type has no JSON schema ({exc})") from None
    parameters = _inline_refs(_strip_titles(parameters))
    parameters.setdefault("properties", {})
    return Tool(
        name=tool_name,
        description=description if description is not None else doc_description,
        parameters=parameters,
        function=fn,
        _model=model,
        _positional=tuple(p.name for p in params if p.kind is p.POSITIONAL_ONLY),
        _extra=has_kwargs,
    )


def runs_tools(tools: Any) -> bool:
    """True when `tools` holds at least one Python callable (so the client runs the loop)."""
    return isinstance(tools, (list, tuple)) and any(callable(t) for t in tools)


class ToolSet:
    """The tools of one request: the wire list, and the callable ones by name."""

    def __init__(self, tools: Iterable[Any]) -> None:
        self.wire: list[dict[str, Any]] = []
        self.callable: dict[str, Tool] = {}
        self.raw_names: set[str] = set()
        for item in tools:
            if isinstance(item, Mapping):
                self.wire.append(item)  # type: ignore[arg-type]
                name = (item.get("function") or {}).get("name")
                if name:
                    self.raw_names.add(name)
                continue
            if not callable(item):
                raise TypeError(f"a tool must be a function or a tool dict, not {type(item).__name__}")
            made = tool(item)
            if made.name in self.callable or made.name in self.raw_names:
                raise ValueError(f"two tools are named {made.name!r}")
            self.callable[made.name] = made
            self.wire.append(made.schema())


def result_text(value: Any) -> str:
    """A tool's return value as the text sent to the model.

    Strings as they are; dicts, lists, numbers, booleans, None, dataclasses and pydantic models
    as JSON; anything else through `str()`.
    """
    if isinstance(value, str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump") and callable(value.model_dump) and not isinstance(value, type):
        try:
            value = value.model_dump(mode="json")
        except Exception:
            return str(value)
    if value is None or isinstance(value, (dict, list, tuple, int, float, bool)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)
