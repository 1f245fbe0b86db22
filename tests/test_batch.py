"""The Batch API client against the local server's /files and /batches emulation."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import BaseModel

from glm_notebook import BadRequestError, GLMClient
from glm_notebook.client.batch import Batch, BatchUnavailableError
from glm_notebook.server import LocalServer, ServerConfig


class Note(BaseModel):
    prompt: str
    words: int


@pytest.fixture(scope="module")
def batch_server():
    with LocalServer(ServerConfig(api_key="batch-key-51d0", batch_line_delay=0.02)) as server:
        yield server


@pytest.fixture
def client(batch_server):
    with GLMClient(batch_server.api_key, batch_server.base_url) as c:
        yield c


def _content(server: LocalServer, file_id: str) -> list[dict]:
    data = server.state.batches.content[file_id].decode()
    return [json.loads(line) for line in data.splitlines()]


def test_batch_lifecycle_with_a_failing_line_and_results_from_a_fresh_client(client, batch_server):
    prompts = [
        "Summarise alpha",
        "Summarise beta [[status=400,code=1214,message=bad_line]]",
        "Summarise gamma",
    ]
    job = client.batch(prompts, model="glm-4.6", temperature=0.2)
    assert job.status == "validating" and job.id.startswith("batch-")
    lines = _content(batch_server, job.parts[0]["input_file_id"])
    assert [line["custom_id"] for line in lines] == ["row-0", "row-1", "row-2"]
    assert all(line["method"] == "POST" and line["url"] == "/v4/chat/completions" for line in lines)
    assert lines[0]["body"]["model"] == "glm-4.6" and lines[0]["body"]["temperature"] == 0.2
    assert "stream" not in lines[0]["body"]
    assert batch_server.state.batches.files[job.parts[0]["input_file_id"]]["purpose"] == "batch"

    results = job.wait(poll=0.05, progress=False)
    assert job.status == "completed" and job.request_counts == {"total": 3, "completed": 2, "failed": 1}
    assert "completed · 2/3 done · 1 failed" in repr(job)
    assert [item.status for item in results] == ["ok", "failed", "ok"]
    assert 'You asked about "Summarise alpha"' in results.texts[0]
    assert "1214" in str(results.errors[1]) and "bad line" in str(results.errors[1])
    assert results.usage.completion_tokens > 0

    with GLMClient(batch_server.api_key, batch_server.base_url) as fresh:
        again = Batch.get(job.id, fresh).results()
    assert again.texts == results.texts and [i.status for i in again] == ["ok", "failed", "ok"]
    assert [i.prompt for i in again] == [i.prompt for i in results]
    assert job.id in [b.id for b in Batch.list(client)]


def test_cancel_keeps_what_was_answered(client, batch_server):
    job = client.batch("Count {item}", [f"item {i} [[delay=0.05]]" for i in range(30)])
    while job.refresh().request_counts["completed"] < 2:
        pass
    assert job.cancel().status == "cancelling"
    results = job.wait(poll=0.05, progress=False)
    assert job.status == "cancelled" and results.stopped == "cancelled"
    assert 2 <= results.done < 30 and results.not_run == 30 - results.done
    assert "cancelled" in results.message


def test_schema_and_a_dataframe_through_a_batch(client):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"text": ["one two", "three"]}, index=["a", "b"])
    job = client.batch("Note {text}", df, schema=Note)
    results = job.wait(poll=0.05, progress=False)
    assert results.values == [Note(prompt="Note one two", words=3), Note(prompt="Note three", words=2)]
    assert list(results.to_pandas().index) == ["a", "b"]


def test_an_invalid_input_file_fails_the_batch_with_its_reason(client, batch_server):
    headers = {"Authorization": f"Bearer {batch_server.api_key}"}
    uploaded = httpx.post(
        f"{batch_server.base_url}/files",
        headers=headers,
        data={"purpose": "batch"},
        files={"file": ("bad.jsonl", b'{"custom_id": "row-0"}\nnot json\n')},
    ).json()
    created = httpx.post(
        f"{batch_server.base_url}/batches",
        headers=headers,
        json={"input_file_id": uploaded["id"], "endpoint": "/v4/chat/completions"},
    ).json()
    results = Batch.get(created["id"], client).wait(poll=0.05, progress=False)
    assert results.stopped == "failed" and "line 1 needs custom_id and body" in results.message


def test_no_batch_api_is_one_clear_line_and_unknown_ids_are_not_mistaken_for_it(client, batch_server):
    with GLMClient(batch_server.api_key, batch_server.replay_url("nothing")) as other:
        with pytest.raises(BatchUnavailableError) as caught:
            other.batch(["a", "b"])
    message = str(caught.value)
    assert "has no Batch API (HTTP 404 on /files)" in message and "client.map" in message
    assert "\n" not in message and batch_server.api_key not in message
    with pytest.raises(BadRequestError, match="not found"):
        Batch.get("batch-missing", client)


def test_a_job_over_the_limits_is_split_into_several_batches_that_read_as_one(client, batch_server):
    job = client.batch("Split {item}", [f"row {i}" for i in range(5)], max_requests=2)
    assert len(job.parts) == 3 and job.id.count("+") == 2
    sizes = [len(_content(batch_server, part["input_file_id"])) for part in job.parts]
    assert sizes == [2, 2, 1]
    results = job.wait(poll=0.05, progress=False)
    assert job.request_counts == {"total": 5, "completed": 5, "failed": 0} and job.status == "completed"
    assert [t.split("\n")[0] for t in results.texts] == [f"## Split row {i}" for i in range(5)]
    with GLMClient(batch_server.api_key, batch_server.base_url) as fresh:
        assert Batch.get(job.id, fresh).results().texts == results.texts

    by_size = client.batch("Size {item}", ["a", "b", "c"], max_bytes=250)
    files = [batch_server.state.batches.content[part["input_file_id"]] for part in by_size.parts]
    assert all(130 < len(data) <= 250 for data in files) and len(files) == 3  # one line fits, two do not
    with pytest.raises(ValueError, match="one request is"):
        client.batch("Size {item}", ["x" * 500], max_bytes=250)
    with pytest.raises(ValueError, match="at least one input"):
        client.batch([])
