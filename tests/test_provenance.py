"""Provenance: every output a model wrote carries `metadata["glm_notebook"]` (model, parameters,
request hash, usage, cost, timing, version, replayed), a notebook executed with nbclient keeps it,
and `glm-notebook provenance` lists it with totals. The key never appears."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from glm_notebook import GLMClient, __version__
from glm_notebook.render.reply_view import reply_bundle
from glm_notebook.results.cost import PRICES, cost_of
from glm_notebook.results.provenance import notebook_outputs, provenance_table
from glm_notebook.wire.protocol import request_key

from .refresh_notebooks import ROOT, execute


def test_an_answer_carries_its_provenance(server) -> None:
    client = GLMClient(server.api_key, server.base_url, max_retries=0)
    reply = client.chat("Name a prime.", model="glm-4.6", temperature=0.2, max_tokens=300)
    meta = reply_bundle(reply)[1]["glm_notebook"]
    sent = server.records[-1].body
    assert meta["request_sha256"] == request_key(sent) == reply.request_sha256
    assert meta["params"] == {"temperature": 0.2, "max_tokens": 300}
    assert meta["version"] == __version__ and meta["model"] == "glm-4.6"
    assert meta["usage"]["completion_tokens"] == reply.usage.completion_tokens
    assert meta["cost"] == pytest.approx(PRICES["glm-4.6"].cost(reply.usage))
    assert meta["started"].endswith("Z") and meta["duration"] >= 0 and "replayed" not in meta
    assert server.api_key not in json.dumps(meta)


NOTEBOOK_CELLS = [
    "%load_ext glm_notebook",
    "%%glm\nName three rivers of Portugal.",
    "from glm_notebook import Chat\ntrip = Chat(system='You are a terse travel agent.')\ntrip('Two days in Porto?')",
    "%%glm --map towns\nOne sentence about {item}.",
    "from glm_notebook import chat\nw = chat()\nw",
    "_ = await w.send('What is the capital of Portugal?')",
]


def test_an_executed_notebook_keeps_provenance_and_the_cli_lists_it(server, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = list(NOTEBOOK_CELLS)
    cells.insert(3, "towns = ['Braga', 'Faro']")
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = tmp_path / "trip.ipynb"
    nbformat.write(nb, path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(PYTHONPATH=str(ROOT), ZAI_BASE_URL=server.base_url, ZAI_API_KEY=server.api_key)
    nbformat.write(execute(path, env=env), path)

    saved = nbformat.read(path, as_version=4)
    text = path.read_text()
    assert server.api_key not in text
    rows = list(notebook_outputs(json.loads(text)))
    assert [(row.cell, row.kind) for row in rows] == [
        (2, "answer"),
        (3, "answer"),
        (5, "map"),
        (6, "chat turn"),
    ]
    assert all(row.model == "glm-4.6" and row.usage and row.usage.completion_tokens for row in rows)
    answer = next(o for o in saved.cells[1].outputs if "glm_notebook" in o.get("metadata", {}))
    meta = answer.metadata["glm_notebook"]
    assert meta["cost"] == pytest.approx(cost_of("glm-4.6", rows[0].usage))
    assert len(meta["request_sha256"]) == 64 and meta["version"] == __version__
    # The map's cost is its answers' together; the chat transcript's turn its own.
    assert rows[2].cost == pytest.approx(sum(cost_of("glm-4.6", r.usage) for r in [rows[2]]))

    listing = subprocess.run(
        [sys.executable, "-m", "glm_notebook.cli", "provenance", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    lines = listing.stdout.splitlines()
    assert lines[0] == f"{path}:" and lines[1].split() == [
        "cell", "kind", "model", "prompt", "completion", "cost", "replayed",
    ]  # fmt: skip
    total = lines[-1].split()
    completion = sum(row.usage.completion_tokens for row in rows)
    assert total[:3] == ["total", "4", "outputs"] and str(completion) in total
    assert f"${sum(row.cost for row in rows):.4f}"[:5] in lines[-1]


def test_the_cli_passes_over_a_hostile_notebook_and_says_when_nothing_is_there(tmp_path: Path) -> None:
    hostile = {
        "cells": [
            {"cell_type": "code", "outputs": [{"metadata": {"glm_notebook": {"model": 7, "usage": "x",
                                                                              "cost": "free"}}}]},
            {"cell_type": "code", "outputs": "not a list"},
            "not a cell",
            {"cell_type": "code", "outputs": [{"metadata": {"glm_notebook": {"chat": [1, {"model": "glm-4.6"}]}}}]},
        ]
    }  # fmt: skip
    rows = list(notebook_outputs(hostile))
    assert [(r.cell, r.kind, r.model, r.cost, r.usage) for r in rows] == [
        (1, "answer", None, None, None),
        (3, "chat turn", "glm-4.6", None, None),
    ]
    assert "unknown" in provenance_table(rows).splitlines()[-1]
    empty = tmp_path / "empty.ipynb"
    empty.write_text(json.dumps({"cells": []}))
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    run = [sys.executable, "-m", "glm_notebook.cli", "provenance"]
    ok = subprocess.run([*run, str(empty)], capture_output=True, text=True, timeout=60)
    bad = subprocess.run([*run, str(broken)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "no output written by a model" in ok.stdout
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "cannot read" in bad.stderr
