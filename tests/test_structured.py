"""`schema=`: structured answers for `chat` and `map`, validated, with one repair round."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

import pytest
from pydantic import BaseModel

from glm_notebook import GLMClient
from glm_notebook.client.many import forget_results
from glm_notebook.client.structured import SchemaError, as_schema


class Note(BaseModel):
    prompt: str
    words: int


class SecondTurn(BaseModel):
    """Only a repaired answer fits: the local server's JSON says which turn it answers."""

    prompt: str
    turn: Literal[2]


class Impossible(BaseModel):
    sentiment: Literal["positive", "negative"]


@dataclass
class NoteDC:
    words: int
    characters: int


@pytest.fixture
def client(server):
    forget_results()
    with GLMClient(server.api_key, server.base_url) as c:
        yield c


def test_chat_with_a_pydantic_model_asks_for_json_and_validates(client, server):
    server.reset()
    reply = client.chat("Count my words please", schema=Note, system="You are terse.")
    assert reply.value == Note(prompt="Count my words please", words=4)
    body = server.records[-1].body
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You are terse.")
    assert '"words"' in system["content"] and "JSON schema" in system["content"]
    assert "schema" not in body
    assert len(server.records) == 1


def test_an_invalid_answer_is_repaired_once_with_the_error_shown_to_the_model(client, server):
    server.reset()
    reply = client.chat("Which turn is this", schema=SecondTurn)
    assert reply.value.turn == 2
    assert len(server.records) == 2
    repair = server.records[1].body["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert '"turn":1' in repair[2]["content"]
    assert "did not match the schema" in repair[3]["content"] and "turn" in repair[3]["content"]


def test_an_answer_that_stays_invalid_is_a_one_line_schema_error(client, server):
    server.reset()
    with pytest.raises(SchemaError) as caught:
        client.chat("Classify this", schema=Impossible)
    assert "does not fit Impossible" in str(caught.value) and "sentiment" in str(caught.value)
    assert caught.value.reply is not None and caught.value.reply.text.startswith("{")
    assert len(server.records) == 2  # one repair, not more


def test_dataclass_and_json_schema_dict(client):
    assert client.chat("three little words", schema=NoteDC).value == NoteDC(
        words=3, characters=len("three little words")
    )
    schema = {"type": "object", "properties": {"words": {"type": "integer"}}, "required": ["words"]}
    assert client.chat("two words", schema=schema).value["words"] == 2
    with pytest.raises(SchemaError, match="does not fit the schema"):
        client.chat("two words", schema={"type": "object", "required": ["missing"]})
    with pytest.raises(TypeError, match="schema= takes"):
        as_schema(object())


def test_achat_with_schema(client):
    reply = asyncio.run(client.achat("async words here", schema=Note))
    assert reply.value.words == 3


def test_map_with_schema_reports_bad_items_and_expands_fields_into_columns(client):
    results = client.map("Describe {item}", ["alpha", "beta gamma"], schema=Note, progress=False)
    assert results.values == [
        Note(prompt="Describe alpha", words=2),
        Note(prompt="Describe beta gamma", words=3),
    ]
    table = results.to_pandas()
    assert list(table["words"]) == [2, 3] and list(table["prompt"]) == [
        "Describe alpha",
        "Describe beta gamma",
    ]

    mixed = client.map(["fits [[tag=a]]", "fits too"], schema=SecondTurn, progress=False)
    assert mixed.done == 2 and all(v.turn == 2 for v in mixed.values)

    bad = client.map(["one", "two"], schema=Impossible, progress=False)
    assert bad.failed == 2 and all(isinstance(e, SchemaError) for e in bad.errors)
    assert bad.retries == 0  # a schema failure is reported, not retried again
    assert "sentiment" in list(bad.to_pandas().columns)
