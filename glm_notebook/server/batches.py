"""The Batch API of the local server: `/files` and `/batches`, processed in the background.

Files: upload (multipart, `purpose=batch`), retrieve, content, delete. Batches: create (from an
uploaded `.jsonl` of `{"custom_id", "method": "POST", "url": "/v4/chat/completions", "body"}`
lines), retrieve, list, cancel. Each line is answered by this same app's chat endpoint (an
in-process ASGI call), so answers are the deterministic ones and `[[directives]]` make lines fail.
Shapes follow the mainland docs (`open.bigmodel.cn`): `request_counts {total, completed, failed}`,
`output_file_id` / `error_file_id`, result lines `{"custom_id", "response": {"status_code", "body"}}`.
`ServerConfig.batch_line_delay` paces the lines so that a test can cancel midway.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import threading
import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import ApiError
from .wire import error_payload

__all__ = ["BatchStore", "batch_routes", "guard"]

MAX_LINES = 50_000
_COUNTER = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{int(time.time())}-{next(_COUNTER)}"


class BatchStore:
    """Uploaded files and batches of one server (thread-safe enough for tests: one lock)."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.content: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.lock = threading.Lock()

    def add_file(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = _new_id("file")
        meta: dict[str, Any] = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
        }
        with self.lock:
            self.files[file_id] = meta
            self.content[file_id] = data
        return meta


def _store(request: Request) -> BatchStore:
    return request.app.state.glm.batches


def _file(store: BatchStore, file_id: str) -> dict[str, Any]:
    meta = store.files.get(file_id)
    if meta is None:
        raise ApiError(404, "1222", f"File {file_id!r} not found")
    return meta


def _batch(store: BatchStore, batch_id: str) -> dict[str, Any]:
    batch = store.batches.get(batch_id)
    if batch is None:
        raise ApiError(404, "1222", f"Batch {batch_id!r} not found")
    return batch


async def upload(request: Request) -> Response:
    form = await request.form()
    upload = form.get("file")
    purpose = form.get("purpose")
    if upload is None or isinstance(upload, str):
        raise ApiError(400, "1214", "The file field is missing")
    if purpose != "batch":
        raise ApiError(400, "1214", f"Unsupported purpose {purpose!r}: use batch")
    data = await upload.read()
    return JSONResponse(_store(request).add_file(data, upload.filename or "upload.jsonl", "batch"))


async def retrieve_file(request: Request) -> Response:
    return JSONResponse(_file(_store(request), request.path_params["file_id"]))


async def file_content(request: Request) -> Response:
    store = _store(request)
    file_id = request.path_params["file_id"]
    _file(store, file_id)
    return Response(store.content[file_id], media_type="application/jsonl")


async def delete_file(request: Request) -> Response:
    store = _store(request)
    file_id = request.path_params["file_id"]
    _file(store, file_id)
    with store.lock:
        store.files.pop(file_id)
        store.content.pop(file_id)
    return JSONResponse({"id": file_id, "object": "file", "deleted": True})


def _parse_lines(data: bytes) -> list[dict[str, Any]]:
    lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise ValueError(f"{len(lines)} requests: at most {MAX_LINES} per file")
    out = []
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except ValueError:
            raise ValueError(f"line {number} is not JSON") from None
        if not isinstance(item, dict) or not isinstance(item.get("body"), dict) or "custom_id" not in item:
            raise ValueError(f"line {number} needs custom_id and body")
        out.append(item)
    return out


async def create_batch(request: Request) -> Response:
    store = _store(request)
    body = json.loads(await request.body() or b"{}")
    input_id = body.get("input_file_id")
    _file(store, str(input_id))
    now = int(time.time())
    batch: dict[str, Any] = {
        "id": _new_id("batch"),
        "object": "batch",
        "endpoint": body.get("endpoint", "/v4/chat/completions"),
        "input_file_id": input_id,
        "completion_window": body.get("completion_window", "24h"),
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "errors": None,
        "created_at": now,
        "in_progress_at": None,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "expires_at": now + 86400,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
    }
    with store.lock:
        store.batches[batch["id"]] = batch
    state = request.app.state.glm
    api = request.url.path.rsplit("/batches", 1)[0]
    store.tasks[batch["id"]] = asyncio.create_task(_process(request.app, state, batch, api))
    return JSONResponse(dict(batch))


async def retrieve_batch(request: Request) -> Response:
    return JSONResponse(dict(_batch(_store(request), request.path_params["batch_id"])))


async def list_batches(request: Request) -> Response:
    data = sorted(_store(request).batches.values(), key=lambda b: b["created_at"], reverse=True)
    return JSONResponse({"object": "list", "data": [dict(b) for b in data], "has_more": False})


async def cancel_batch(request: Request) -> Response:
    store = _store(request)
    batch = _batch(store, request.path_params["batch_id"])
    if batch["status"] in ("validating", "in_progress", "finalizing"):
        batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
    return JSONResponse(dict(batch))


async def _process(app: Any, state: Any, batch: dict[str, Any], api: str) -> None:
    store: BatchStore = state.batches
    delay = state.config.batch_line_delay
    try:
        lines = _parse_lines(store.content[batch["input_file_id"]])
    except (ValueError, UnicodeDecodeError) as exc:
        batch.update(
            status="failed",
            failed_at=int(time.time()),
            errors={"object": "list", "data": [{"code": "1214", "message": str(exc)}]},
        )
        return
    counts = batch["request_counts"]
    counts["total"] = len(lines)
    if batch["status"] == "validating":
        batch.update(status="in_progress", in_progress_at=int(time.time()))
    outputs: list[str] = []
    errors: list[str] = []
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {state.config.api_key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://batch.local", headers=headers) as http:
        for line in lines:
            if batch["status"] == "cancelling":
                break
            if delay:
                await asyncio.sleep(delay)
            body = {**line["body"], "stream": False}
            response = await http.post(f"{api}/chat/completions", json=body)
            try:
                payload = response.json()
            except ValueError:
                payload = {"error": {"code": "500", "message": response.text[:200]}}
            result = {
                "id": _new_id("req"),
                "custom_id": line["custom_id"],
                "response": {
                    "status_code": response.status_code,
                    "request_id": line["custom_id"],
                    "body": payload,
                },
            }
            if response.status_code == 200:
                outputs.append(json.dumps(result, ensure_ascii=False))
                counts["completed"] += 1
            else:
                result["error"] = payload.get("error") if isinstance(payload, dict) else None
                errors.append(json.dumps(result, ensure_ascii=False))
                counts["failed"] += 1
    cancelled = batch["status"] == "cancelling"
    if not cancelled:
        batch.update(status="finalizing", finalizing_at=int(time.time()))
    if outputs:
        batch["output_file_id"] = store.add_file(
            ("\n".join(outputs) + "\n").encode(), "output.jsonl", "batch_output"
        )["id"]
    if errors:
        batch["error_file_id"] = store.add_file(
            ("\n".join(errors) + "\n").encode(), "errors.jsonl", "batch_output"
        )["id"]
    if cancelled:
        batch.update(status="cancelled", cancelled_at=int(time.time()))
    else:
        batch.update(status="completed", completed_at=int(time.time()))


def guard(endpoint: Any) -> Any:
    """Check the key like the chat endpoint; `ApiError` becomes Z.ai's error body."""

    async def guarded(request: Request) -> Response:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        key = request.app.state.glm.config.api_key
        try:
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
                raise ApiError(401, "1000", "Authentication failed")
            return await endpoint(request)
        except ApiError as error:
            return JSONResponse(error_payload(error.code, error.message), status_code=error.status)
        except ValueError as exc:  # a body that is not JSON
            return JSONResponse(error_payload("1214", f"Invalid request: {exc}"), status_code=400)

    guarded.__name__ = endpoint.__name__
    return guarded


def batch_routes(api: str) -> list[Route]:
    """The file and batch routes under one API root."""
    return [
        Route(f"{api}/files", guard(upload), methods=["POST"]),
        Route(f"{api}/files/{{file_id}}", guard(retrieve_file), methods=["GET"]),
        Route(f"{api}/files/{{file_id}}", guard(delete_file), methods=["DELETE"]),
        Route(f"{api}/files/{{file_id}}/content", guard(file_content), methods=["GET"]),
        Route(f"{api}/batches", guard(create_batch), methods=["POST"]),
        Route(f"{api}/batches", guard(list_batches), methods=["GET"]),
        Route(f"{api}/batches/{{batch_id}}", guard(retrieve_batch), methods=["GET"]),
        Route(f"{api}/batches/{{batch_id}}/cancel", guard(cancel_batch), methods=["POST"]),
    ]
