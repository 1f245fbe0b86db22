"""Structured answers: `schema=` a pydantic model, a dataclass or a JSON schema.

```python
class Review(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    score: float

reply = client.chat("Classify: great phone", schema=Review)
reply.value                      # Review(sentiment='positive', score=0.9)
```

Z.ai offers `response_format={"type": "json_object"}` only, so the schema goes into the system
prompt. Each answer is parsed and validated; an invalid one is sent back once with the validation
error (`repair`), and a second failure is a `SchemaError` naming what did not fit. pydantic
validates models and dataclasses (and converts the JSON into them); a plain JSON schema is checked
with `jsonschema` and the value stays a dict. `chat_structured` / `achat_structured` are what
`GLMClient.chat(..., schema=)` runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import GLMError
from ..results.reply import Reply
from ..wire.protocol import Messages, normalize_messages

__all__ = ["Schema", "SchemaError", "as_schema", "chat_structured", "achat_structured"]

_INSTRUCTION = (
    "Answer with one JSON object and nothing else (no prose, no code fences). "
    "It must validate against this JSON schema:\n{schema}"
)
_REPAIR = "Your answer did not match the schema: {error}\nReply again with the corrected JSON object only."


class SchemaError(GLMError):
    """The model's answer is not valid JSON or does not fit the schema (after one repair)."""

    hint = "Loosen the schema or the prompt, or raise max_tokens if the answer was cut short."


@dataclass(frozen=True, eq=False)
class Schema:
    """What `schema=` was turned into: its JSON schema and a validator."""

    json_schema: dict[str, Any]
    source: Any
    """The model class, dataclass or dict the user gave."""

    def system_prompt(self, system: str | None = None) -> str:
        """The instruction that asks for this schema, after the user's own system prompt."""
        text = _INSTRUCTION.format(schema=json.dumps(self.json_schema, ensure_ascii=False))
        return f"{system.rstrip()}\n\n{text}" if system else text

    def request(
        self, messages: Messages, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Messages and params that ask for this schema (the user's system prompt comes first)."""
        out = dict(params)
        listed = normalize_messages(messages)
        system = out.get("system") or next(
            (m.get("content") for m in listed if m["role"] == "system" and isinstance(m.get("content"), str)),
            None,
        )
        out["system"] = self.system_prompt(system)
        out["response_format"] = {"type": "json_object"}
        return listed, out

    def parse(self, reply: Reply) -> Any:
        """The validated value of the answer; raises `SchemaError` saying what is wrong."""
        if reply.finish_reason == "length":
            raise SchemaError("The JSON answer was cut short by max_tokens.")
        try:
            data = reply.json()
        except ValueError as exc:
            raise SchemaError(f"The answer is not valid JSON ({exc}): {reply.text[:80]!r}") from None
        if isinstance(self.source, Mapping):
            return self._check_json_schema(data)
        from pydantic import TypeAdapter, ValidationError

        try:
            return TypeAdapter(self.source).validate_python(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
            )
            raise SchemaError(f"The answer does not fit {_name(self.source)}: {problems}") from None

    def _check_json_schema(self, data: Any) -> Any:
        import jsonschema

        validator = jsonschema.Draft202012Validator(self.json_schema)
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e.path) or 'value'}: {e.message}" for e in errors[:5]
            )
            raise SchemaError(f"The answer does not fit the schema: {problems}")
        return data

    def repair_messages(
        self, messages: list[dict[str, Any]], reply: Reply, error: SchemaError
    ) -> list[dict[str, Any]]:
        """The conversation that shows the model its invalid answer and what was wrong."""
        return [
            *messages,
            {"role": "assistant", "content": reply.text},
            {"role": "user", "content": _REPAIR.format(error=error.message)},
        ]


def _name(source: Any) -> str:
    return getattr(source, "__name__", None) or type(source).__name__


def as_schema(schema: Any) -> Schema:
    """A `Schema` from a pydantic model class, a dataclass, a type pydantic knows, or a dict."""
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, Mapping):
        import jsonschema

        jsonschema.Draft202012Validator.check_schema(dict(schema))
        return Schema(dict(schema), schema)
    from pydantic import TypeAdapter

    try:
        json_schema = TypeAdapter(schema).json_schema()
    except Exception as exc:  # pydantic raises several kinds for types it cannot describe
        raise TypeError(
            f"schema= takes a pydantic model, a dataclass or a JSON schema dict, not {schema!r} ({exc})"
        ) from None
    return Schema(json_schema, schema)


def chat_structured(client: Any, messages: Messages, *, schema: Any, **params: Any) -> Reply:
    """`client.chat` asking for `schema`: the `Reply` with `.value` set, one repair if needed."""
    spec = as_schema(schema)
    listed, params = spec.request(messages, params)
    reply: Reply = client.chat(listed, **params)
    try:
        reply.value = spec.parse(reply)
    except SchemaError as error:
        reply = client.chat(spec.repair_messages(listed, reply, error), **params)
        reply.value = _parse_or_attach(spec, reply)
    return reply


async def achat_structured(client: Any, messages: Messages, *, schema: Any, **params: Any) -> Reply:
    """The async twin of `chat_structured`."""
    spec = as_schema(schema)
    listed, params = spec.request(messages, params)
    reply: Reply = await client.achat(listed, **params)
    try:
        reply.value = spec.parse(reply)
    except SchemaError as error:
        reply = await client.achat(spec.repair_messages(listed, reply, error), **params)
        reply.value = _parse_or_attach(spec, reply)
    return reply


def _parse_or_attach(spec: Schema, reply: Reply) -> Any:
    try:
        return spec.parse(reply)
    except SchemaError as error:
        error.reply = reply
        raise
