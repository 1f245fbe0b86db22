"""The spend guard (`max_cost=` on map, `%%glm --map`, batch) and models: `client.models()`,
`%glm models`, aliases and "did you mean …?" on 1211 — over loopback to the local server."""

from __future__ import annotations

import pytest

from glm_notebook import BadRequestError, GLMClient, SpendLimitError, set_prices
from glm_notebook.client.budget import Budget, estimate_tokens
from glm_notebook.client.many import forget_results
from glm_notebook.server import LocalServer, ServerConfig

from .kernel_harness import Kernel

#: A price that makes each answer cost about three cents: easy to cap.
DEAR = {"glm-4.6": (100.0, None, 100.0)}


@pytest.fixture
def dear():
    set_prices(DEAR)
    forget_results()
    yield
    set_prices(None)
    forget_results()


def _client(server, **kw) -> GLMClient:
    return GLMClient(server.api_key, server.base_url, max_retries=0, **kw)


def _sent(server, start: int) -> int:
    return sum(r.path.endswith("/chat/completions") for r in server.records[start:])


def test_a_map_estimated_above_the_cap_is_refused_before_anything_is_sent(server, dear) -> None:
    start = len(server.records)
    prompts = [f"Describe the number {n} in a paragraph." for n in range(20)]
    with pytest.raises(SpendLimitError) as caught:
        _client(server).map(prompts, max_tokens=500, max_cost=0.50, progress=False)
    message = str(caught.value)
    assert "\n" not in message and "20 prompts would cost about $" in message and "max_cost=$0.50" in message
    assert _sent(server, start) == 0


def test_a_map_stops_sending_at_the_cap_and_keeps_what_finished(server, dear) -> None:
    client = _client(server)
    prompts = [f"Say something about the number {n}." for n in range(12)]
    start = len(server.records)
    results = client.map(prompts, max_cost=0.15, concurrency=2, progress=False)
    sent = _sent(server, start)
    assert results.stopped == "max_cost" and 0 < results.done < len(prompts) and sent == results.done
    assert results.cost <= 0.15
    assert "Stopped at the spend limit" in results.message and "raise max_cost" in results.message
    # Raising the cap continues with what is missing only.
    again = client.map(prompts, max_cost=10.0, concurrency=2, progress=False)
    assert again.complete and _sent(server, start) == len(prompts)


def test_the_guard_needs_a_price_and_a_batch_is_refused_before_uploading(server, dear) -> None:
    with pytest.raises(SpendLimitError, match="price of 'glm-4.6v'"):
        _client(server).map(["one", "two"], model="glm-4.6v", max_cost=1.0, progress=False)
    start = len(server.records)
    with pytest.raises(SpendLimitError, match="max_cost="):
        _client(server).batch(["x" * 3000] * 50, max_tokens=1000, max_cost=0.10)
    assert len(server.records) == start  # no upload, no batch


def test_estimates_count_high_and_batch_is_half_price() -> None:
    assert estimate_tokens([{"role": "user", "content": "abc" * 100}]) == 4 + 100
    assert estimate_tokens([{"role": "user", "content": "日本語"}]) == 4 + 3
    image = [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]}]
    assert estimate_tokens(image) == 4 + 1 + 1_500
    full, half = Budget(1, "glm-4.6"), Budget(1, "glm-4.6", batch=True)
    assert half.cost(1000, 1000) == pytest.approx(full.cost(1000, 1000) / 2)
    with pytest.raises(ValueError, match="max_cost"):
        Budget(-1, "glm-4.6")


# -- models and aliases ---------------------------------------------------------------------------


def test_models_come_from_the_service_else_from_the_price_table(server) -> None:
    listed = _client(server).models()
    assert listed.source == "service" and "glm-4.6" in listed.names and "glm-4.5-air" in listed.names
    with LocalServer(ServerConfig(api_key="k-no-models", list_models=False)) as bare:
        fallback = GLMClient("k-no-models", bare.base_url).models()
    assert fallback.source == "price table" and "glm-4.6" in fallback.names
    assert "has no /models endpoint" in repr(fallback).splitlines()[0]


def test_an_alias_sends_the_model_it_stands_for(server) -> None:
    client = _client(server, aliases={"fast": "glm-4.5-air"})
    reply = client.chat("Hello", model="fast")
    assert server.records[-1].body["model"] == "glm-4.5-air" and reply.model == "glm-4.5-air"
    with pytest.raises(ValueError, match="alias"):
        GLMClient("k", aliases={"fast": ""})


def test_an_unknown_model_gets_did_you_mean(server) -> None:
    with pytest.raises(BadRequestError) as caught:
        _client(server).chat("Hello", model="glm-4.66")
    assert caught.value.code == "1211" and "Did you mean 'glm-4.6'?" in str(caught.value)
    with pytest.raises(BadRequestError) as far:
        _client(server).chat("Hello", model="completely-different")
    assert "Did you mean" not in str(far.value)
    assert "Models known here: glm-5-turbo, glm-5, " in str(far.value) and " more (client.models()" in str(
        far.value
    )


def test_a_base_url_without_the_api_path_says_what_it_must_end_in(server) -> None:
    wrong = server.base_url.removesuffix("/api/paas/v4") + "/v1"
    with pytest.raises(BadRequestError) as caught:
        GLMClient(server.api_key, wrong).chat("Hello")
    message = str(caught.value)
    assert caught.value.status == 404 and caught.value.code == "1222" and "\n" not in message
    assert f"Check the base URL ({wrong}): it must end in /api/paas/v4 (/api/coding/paas/v4" in message


# -- in a kernel ----------------------------------------------------------------------------------


def test_the_magic_lists_models_uses_aliases_and_guards_a_map(k: Kernel, server) -> None:
    run = k.run("%glm models")
    assert run.error is None and "models from the service" in run.stdout and "No aliases" in run.stdout
    k.run("%config GLM.aliases = {'fast': 'glm-4.5-air'}")
    assert "fast → glm-4.5-air" in k.run("%glm models").stdout
    assert k.run("%%glm -m fast\nHello").error is None
    assert server.records[-1].body["model"] == "glm-4.5-air"
    bad = k.run("%config GLM.aliases = {'fast': 3}")
    assert "GLM.aliases: an alias maps a short name to a model name" in bad.stderr
    k.run("%config GLM.aliases = {}")
    k.run("%config GLM.prices = {'glm-4.6': (100.0, None, 100.0)}")
    k.run("items = [f'number {n}' for n in range(30)]")
    refused = k.run("%%glm --map items --max-cost 0.01 --max-tokens 800\nDescribe {item} at length.")
    assert refused.error is not None and refused.error["ename"] == "SpendLimitError"
    assert "would cost about" in refused.stderr + "".join(refused.error["traceback"])
    typo = k.run("%%glm -m glm-4.66\nHello")
    assert typo.error is not None and "Did you mean 'glm-4.6'?" in "".join(typo.error["traceback"])
    k.run("%config GLM.prices = {}")
