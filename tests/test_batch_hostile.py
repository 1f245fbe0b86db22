"""The Batch API's replies are untrusted: ids that would walk the URL or drive a terminal,
replies of the wrong shape, bodies of hundreds of megabytes. Over loopback HTTP to a small
service that answers the batch routes with such replies (the local server only answers well);
each case is one `GLMError` line, nothing is read past the client's caps, and no request goes
anywhere but the batch routes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from glm_notebook import GLMClient, GLMError, ProtocolError
from glm_notebook.client.batch import Batch
from glm_notebook.client.config import MAX_ERROR_BODY

GOOD = {"id": "batch_1", "status": "completed", "request_counts": {"total": 1, "completed": 1, "failed": 0}}
ANSWER = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]
}


class Hostile:
    """A loopback service: `routes[path]` gives (status, body bytes or a generator) per request."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[], tuple[int, bytes | Iterator[bytes]]]] = {}
        self.paths: list[str] = []
        self.sent: dict[str, int] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                owner.paths.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                route = owner.routes.get(self.path.split("?")[0].removeprefix("/api/paas/v4"))
                status, body = route() if route else (404, b'{"error": {"code": "1222", "message": "no"}}')
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                sent = 0
                try:
                    for piece in [body] if isinstance(body, bytes) else body:
                        self.wfile.write(piece)
                        sent += len(piece)
                except OSError:
                    pass  # the client stopped reading: what it read is counted
                owner.sent[self.path] = sent
                self.close_connection = True

            do_GET = do_POST = _serve

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/paas/v4"

    def json(self, path: str, value: object, status: int = 200) -> None:
        self.routes[path] = lambda: (status, json.dumps(value).encode())


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    service = Hostile()
    yield service
    service.httpd.shutdown()
    service.httpd.server_close()


def _client(service: Hostile) -> GLMClient:
    return GLMClient("k-hostile", service.base_url, max_retries=0)


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and "\x1b" not in text and "\x07" not in text, text
    return text


@pytest.mark.parametrize(
    "batch_id",
    ["../../../../s/leak/x?y=1#", "\x1b]52;c;cHduZWQ=\x07", "batch 1", "", "a" * 300, 17, None],
)
def test_an_id_from_the_service_never_walks_the_url_or_reaches_a_screen(hostile: Hostile, batch_id) -> None:
    hostile.json("/files", {"id": "file-1"})
    hostile.json("/batches", dict(GOOD, id=batch_id, status="validating"))
    with _client(hostile) as client, pytest.raises(ProtocolError, match="not an id") as caught:
        client.batch(["hello"])
    _one_line(caught.value)
    assert all(p.split("?")[0] in ("/api/paas/v4/files", "/api/paas/v4/batches") for p in hostile.paths)


def test_a_file_id_from_the_service_is_checked_before_it_goes_into_a_url(hostile: Hostile) -> None:
    hostile.json("/files", {"id": "../../s/leak"})
    with _client(hostile) as client, pytest.raises(ProtocolError, match="file id that is not an id"):
        client.batch(["hello"])
    hostile.json("/batches/batch_1", dict(GOOD, output_file_id="../../../../s/leak/x?y=1#"))
    with _client(hostile) as client, pytest.raises(ProtocolError, match="output file id"):
        Batch.get("batch_1", client)
    assert not [p for p in hostile.paths if "leak" in p]
    with _client(hostile) as client, pytest.raises(ValueError, match="not a batch id"):
        Batch.get("../x", client)


@pytest.mark.parametrize(
    "reply",
    [
        b"not json",
        b"[1, 2]",
        b'{"id": "batch_1"}',
        json.dumps(dict(GOOD, status="\x1b[2J done")).encode(),
        json.dumps(dict(GOOD, status=["x"])).encode(),
        b'{"id": "batch_1", "status": "completed", "request_counts": "many"}',
        b"[" * 100_000,
    ],
)
def test_a_malformed_batch_reply_is_one_error_line(hostile: Hostile, reply: bytes) -> None:
    hostile.routes["/batches/batch_1"] = lambda: (200, reply)
    with _client(hostile) as client:
        try:
            job = Batch.get("batch_1", client)
        except GLMError as exc:
            _one_line(exc)
            return
    # the counts were not numbers: dropped, the rest stands
    assert job.request_counts == {"total": 0, "completed": 0, "failed": 0} and job.status == "completed"


def test_malformed_result_lines_fail_their_item_only(hostile: Hostile) -> None:
    hostile.json("/batches/batch_1", dict(GOOD, input_file_id="file-in", output_file_id="file-out"))
    inputs = [
        {"custom_id": f"row-{i}", "body": {"messages": [{"role": "user", "content": f"q{i}"}]}}
        for i in range(5)
    ]
    outputs = [
        {"custom_id": "row-0", "response": {"status_code": 200, "body": ANSWER}},
        {"custom_id": "row-1", "response": {"status_code": 200, "body": {"choices": "x"}}},
        {"custom_id": "row-2", "response": "not an object"},
        {"custom_id": "row-3", "response": {"status_code": "200", "body": []}, "error": ["x"]},
        {"custom_id": "row-4", "response": {"status_code": 200, "body": {"choices": [5]}}},
    ]
    lines = [json.dumps(x).encode() for x in inputs]
    hostile.routes["/files/file-in/content"] = lambda: (200, b"\n".join(lines))
    body = b"\n".join([json.dumps(x).encode() for x in outputs] + [b"{broken", b"[1]", b"x" * 100])
    hostile.routes["/files/file-out/content"] = lambda: (200, body)
    with _client(hostile) as client:
        results = Batch.get("batch_1", client).results()
    assert results.texts[0] == "ok"
    assert [item.status for item in results.items] == ["ok", "failed", "failed", "failed", "failed"]
    for error in results.errors[1:]:
        assert isinstance(error, GLMError)
        _one_line(error)


def test_huge_bodies_are_not_read_past_the_caps(hostile: Hostile) -> None:
    """A 200 MB error body, and a 200 MB reply where a batch object belongs: the client stops
    reading at its caps (64 KiB for errors, 16 MiB for JSON) and says so in one line."""

    def huge(prefix: bytes) -> Iterator[bytes]:
        yield prefix
        for _ in range(200):
            yield b" " * 2**20

    hostile.routes["/batches/batch_1"] = lambda: (500, huge(b'{"error": {"code": "500", "message": "x"}}'))
    with _client(hostile) as client, pytest.raises(GLMError) as caught:
        Batch.get("batch_1", client)
    _one_line(caught.value)
    hostile.routes["/batches/batch_2"] = lambda: (
        200,
        huge(b'{"id": "batch_2", "status": "completed", "x": "'),
    )
    with _client(hostile) as client, pytest.raises(ProtocolError, match="larger than 16 MiB"):
        Batch.get("batch_2", client)
    # what the service managed to write before the client closed: the cap plus socket buffers
    for _ in range(600):  # (the handler finishes once its writes fail: wait for its count)
        if len(hostile.sent) == 2:
            break
        time.sleep(0.05)
    sent = {path.rsplit("/", 1)[-1]: size for path, size in hostile.sent.items()}
    assert sent["batch_1"] < MAX_ERROR_BODY + 16 * 2**20, sent
    assert sent["batch_2"] < 16 * 2**20 + 16 * 2**20, sent
