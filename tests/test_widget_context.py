"""Notebook context in the chat widget, the same way as in `%%glm`: `{name}` interpolation of what
is sent, images (`send(images=)` and the front end's attachments as binary comm buffers),
thumbnails instead of Base64 in what is shown and saved, the text-model error, the 1210 fallback.

In-process tests use the `wire` recording comm of tests/test_widget.py and a mapping as the
namespace; kernel tests use a real kernel's variables and send the front end's comm message
with its buffers on the shell channel. Everything talks to the local server, whose vision
emulation (glm_notebook/server/vision.py) describes each image's format and size.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json

import pytest

from glm_notebook.client.content import THUMB_SIDE, thumbnail
from glm_notebook.client.interpolate import KEY_MASK
from glm_notebook.notebook.widget import ChatWidget
from glm_notebook.server import LocalServer, ServerConfig

from .kernel_harness import Running
from .test_widget import _client, ask, custom_messages

PIL = pytest.importorskip("PIL.Image")


def png(width: int, height: int, *, noise: bool = False) -> bytes:
    """A PNG of the given size (random pixels with `noise`: it does not compress)."""
    if noise:
        import numpy as np

        pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = PIL.fromarray(pixels)
    else:
        image = PIL.new("RGB", (width, height), (200, 40, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def browser_send(w: ChatWidget, text: str, *images: bytes) -> None:
    """What Send does in the front end: the text, and each attached file as a binary buffer."""
    content = {
        "op": "send",
        "text": text,
        "images": [{"name": f"{i}.png", "type": "image/png"} for i in range(len(images))],
    }
    message = {
        "content": {"data": {"method": "custom", "content": content}},
        "buffers": [memoryview(b) for b in images],
    }
    w.widget.comm.handle_msg(message)


async def _settle(w: ChatWidget) -> None:
    while w.busy or w.pending:
        await asyncio.sleep(0.01)


# -- client level ---------------------------------------------------------------------------------


def test_thumbnail_is_a_small_jpeg_of_the_pixels():
    from glm_notebook.client.content import image_part

    big = image_part(png(900, 800, noise=True))
    assert big.size > 2_000_000
    src = thumbnail(big)
    assert src is not None and src.startswith("data:image/jpeg;base64,")
    data = base64.b64decode(src.split(",", 1)[1])
    assert len(src) < 16_000
    small = PIL.open(io.BytesIO(data))
    assert small.format == "JPEG" and max(small.size) == THUMB_SIDE and small.size == (160, 142)
    transparent = PIL.new("RGBA", (20, 10), (0, 0, 0, 0))
    assert thumbnail(image_part(transparent)).startswith("data:image/jpeg;base64,")  # flattened
    assert thumbnail({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}) is None


# -- in-process: a real event loop, the local server ----------------------------------------------


def test_images_go_out_as_parts_and_stay_in_the_history(server, wire):
    async def main():
        w = ChatWidget(model="glm-4.6v", client=_client(server), interpolate={})
        first = len(server.records)
        reply = await w.send("What is in this picture?", images=[png(64, 48)])
        assert reply.text.startswith("I see 1 image(s):") and "PNG, 64×48 pixels" in reply.text
        [user] = server.records[first].body["messages"]
        assert [p["type"] for p in user["content"]] == ["text", "image_url"]
        assert user["content"][0]["text"] == "What is in this picture?"
        assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
        # The front end's attachment: a binary buffer; it goes after the text.
        browser_send(w, "And this one?", png(30, 20))
        second = await w._task
        assert "PNG, 30×20 pixels" in second.text and "64×48" not in second.text  # the last message's
        messages = server.records[-1].body["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        assert messages[0]["content"][1]["type"] == "image_url"  # the first image went again
        # A text-only follow-up: the history keeps both images, `messages` too.
        await w.send("Which was wider?")
        sent = server.records[-1].body["messages"]
        assert (
            sum(1 for m in sent if isinstance(m["content"], list)) == 2
            and sent[-1]["content"] == "Which was wider?"
        )
        assert [type(m["content"]).__name__ for m in w.messages] == [
            "list",
            "str",
            "list",
            "str",
            "str",
            "str",
        ]
        # What is shown: the text as typed, and our thumbnails (JPEG data URLs), never the image.
        turns = wire.ops("turn")
        assert turns[0]["thumbs"][0]["alt"] == "[image 64×48 PNG]"
        assert turns[0]["thumbs"][0]["src"].startswith("data:image/jpeg;base64,")
        assert turns[2]["thumbs"] == []
        assert "image_url" not in json.dumps(wire.custom())
        markdown = w.to_markdown()
        assert "**You:**\n\nWhat is in this picture?\n\n[image 64×48 PNG]" in markdown
        assert "**You:**\n\nAnd this one?\n\n[image 30×20 PNG]" in markdown and "base64" not in markdown

    asyncio.run(main())


def test_saved_transcript_stays_small_with_a_2_mb_image(server, wire):
    async def main():
        w = ChatWidget(model="glm-4.6v", client=_client(server), interpolate={})
        big = png(900, 800, noise=True)
        assert len(big) > 2_000_000
        await w.send("Describe", images=[big])
        bundle = w._static_bundle()
        html = bundle["text/html"]
        assert len(json.dumps(bundle)) < 60_000, len(json.dumps(bundle))  # CSS ~10 kB, thumbnail < 16 kB
        assert html.count('<img class="glm-thumb" src="data:image/jpeg;base64,') == 1
        assert base64.b64encode(big[:3000]).decode()[:200] not in html
        assert "[image 900×800 PNG]" in bundle["text/plain"] and "base64" not in bundle["text/plain"]
        assert len(json.dumps(wire.custom())) < 40_000  # the browser got the thumbnail, not 2 MB

    asyncio.run(main())


def test_a_large_image_is_downscaled_with_a_note_in_the_chat(server, wire):
    async def main():
        w = ChatWidget(model="glm-4.6v", client=_client(server), interpolate={})
        reply = await w.send("Tall", images=[png(40, 6500)])
        assert "PNG, 37×6000 pixels" in reply.text
        [turn] = wire.ops("turn")
        assert (
            "note: image downscaled from 40×6500 to 37×6000 to fit the service&#x27;s limits"
            in turn["user_html"]
        )
        assert turn["thumbs"][0]["alt"] == "[image 37×6000 PNG]"

    asyncio.run(main())


def test_images_for_a_text_model_are_refused_in_one_line(server, wire):
    async def main():
        w = ChatWidget(model="glm-4.6", client=_client(server), interpolate={})
        first = len(server.records)
        assert await w.send("Look", images=[png(8, 8)]) is None
        assert len(server.records) == first and w.turns == []  # nothing sent, no turn
        assert wire.custom() == [
            {
                "op": "notice",
                "text": "Not sent: glm-4.6 cannot see images: ask a vision model, e.g. chat(model='glm-4.6v')",
            },
            {"op": "draft", "text": "Look"},
        ]
        await w.send("Look", images=[b"GIF89a not really"])  # a bad file: one line too
        assert wire.ops("notice")[-1]["text"] == (
            "Not sent: image 1: the file is not an image in a format read here (PNG, JPEG, GIF, WEBP, BMP)"
        )

    asyncio.run(main())


def test_a_pasted_gif_is_converted(server, wire):
    async def main():
        w = ChatWidget(model="glm-4.6v", client=_client(server), interpolate={})
        buffer = io.BytesIO()
        PIL.new("P", (12, 9)).save(buffer, format="GIF")
        browser_send(w, "", buffer.getvalue())  # an image alone is a prompt
        reply = await w._task
        assert "PNG, 12×9 pixels" in reply.text and w.turns[0].prompt == ""

    asyncio.run(main())


def test_1210_fallback_works_as_in_the_magic(wire):
    async def main():
        with LocalServer(ServerConfig(api_key="k-chat-1210", bare_image_models=("glm-4.5v",))) as local:
            w = ChatWidget(model="glm-4.5v", client=_client(local), interpolate={})
            reply = await w.send("Describe", images=[png(20, 10)])
            assert "PNG, 20×10 pixels" in reply.text
            assert [r.status for r in local.records] == [400, 200]
            await w.send("Again", images=[png(5, 5)])  # remembered: bare Base64 at once
            assert [r.status for r in local.records] == [400, 200, 200]
            urls = [
                p["image_url"]["url"]
                for m in local.records[2].body["messages"]
                if isinstance(m["content"], list)
                for p in m["content"]
                if p["type"] == "image_url"
            ]
            assert len(urls) == 2 and not any(u.startswith("data:") for u in urls)
            assert w.messages[0]["content"][1]["image_url"]["url"].startswith(
                "data:"
            )  # history as sent first

    asyncio.run(main())


def test_interpolation_follows_the_magics_rules(server, wire):
    async def main():
        namespace = {"x": 42, "fig": PIL.new("RGB", (33, 22))}
        w = ChatWidget(model="glm-4.6v", client=_client(server), interpolate=namespace)
        await w.send("x is {x}, braces {{x}}, unknown {nope}; see {fig} please")
        [user] = server.records[-1].body["messages"]
        texts = [p.get("text") for p in user["content"]]
        assert texts == ["x is 42, braces {x}, unknown {nope}; see ", None, " please"]  # the image in place
        assert "PNG, 33×22 pixels" in w.replies[0].text
        turn = wire.ops("turn")[-1]
        assert turn["user_html"].startswith('<div class="glm-md')
        assert "x is {x}, braces {{x}}" in turn["user_html"]  # shown as typed
        assert "note: {nope} is not defined; sent as written" in turn["user_html"]
        # A typo: one line, the text back in the input, nothing sent.
        first = len(server.records)
        assert await w.send("Explain {x.real.nope}") is None
        assert len(server.records) == first and len(w.turns) == 1
        assert wire.custom()[-2:] == [
            {
                "op": "notice",
                "text": "Not sent: {x.real.nope}: 'int' object has no attribute 'nope'; write "
                "{{x.real.nope}} for literal braces, or use chat(interpolate=False)",
            },
            {"op": "draft", "text": "Explain {x.real.nope}"},
        ]
        # Opted out: sent as written.
        plain = ChatWidget(client=_client(server), interpolate=False)
        await plain.send("{x} and {{x}}")
        assert server.records[-1].body["messages"][-1]["content"] == "{x} and {{x}}"

    asyncio.run(main())


def test_the_api_key_is_masked_in_what_is_sent_and_shown(server, wire):
    async def main():
        w = ChatWidget(client=_client(server), interpolate={"env": {"KEY": server.api_key}})
        await w.send(f"My key is {server.api_key}; env {{env}}")
        sent = server.records[-1].body["messages"][-1]["content"]
        assert server.api_key not in sent and sent.count(KEY_MASK) == 2
        shown = json.dumps(wire.custom()) + json.dumps(w._static_bundle()) + w.to_markdown()
        assert server.api_key not in shown and "the prompt held your API key" in shown

    asyncio.run(main())


# -- a real kernel ----------------------------------------------------------------------------------


def send_with_buffers(kernel, model_id: str, text: str, *images: bytes) -> Running:
    """The front end's Send with attachments: a comm message with binary buffers; returns a
    handle on what the kernel publishes while handling it."""
    client = kernel.client
    content = {"op": "send", "text": text, "images": [{"name": "a.png", "type": "image/png"} for _ in images]}
    message = client.session.msg(
        "comm_msg", {"comm_id": model_id, "data": {"method": "custom", "content": content}}
    )
    message["buffers"] = list(images)
    client.shell_channel.send(message)
    return Running(kernel, message["header"]["msg_id"])


@pytest.fixture(scope="module")
def context_kernel(kernel):
    run = kernel.run(
        "import asyncio, io\nimport pandas as pd\nfrom glm_notebook import ChatWidget, chat\n"
        'df = pd.DataFrame({"city": ["Rome", "Oslo", "Lima"], "temp": [21, 4, 18]})\nx = 42'
    )
    assert run.error is None, run.error
    return kernel


def test_the_kernels_variables_fill_the_chat(context_kernel, server):
    run = context_kernel.run(
        'w = ChatWidget(model="glm-4.6v")\nreply = await w.send("Coldest in {df}? x={x}, {{x}}")'
    )
    assert run.error is None, run.error
    sent = server.records[-1].body["messages"][-1]["content"]
    assert sent.startswith("Coldest in pandas DataFrame: 3 rows × 2 columns") and "| 1 | Oslo | 4 |" in sent
    assert sent.endswith("? x=42, {x}")
    assert ask(context_kernel, "w.turns[-1].prompt") == "Coldest in {df}? x={x}, {{x}}"
    # `{Err}`: the cells' exceptions, recorded since the widget was made.
    context_kernel.run("1 / 0")
    run = context_kernel.run('await w.send("Why? {Err}")')
    assert run.error is None
    assert "ZeroDivisionError: division by zero" in server.records[-1].body["messages"][-1]["content"]


def test_attachments_from_the_browser_reach_the_model_and_the_history(context_kernel, server):
    run = context_kernel.run('w = chat(model="glm-4.6v")')
    static_id = run.of_type("display_data")[1]["transient"]["display_id"]
    model_id = ask(context_kernel, "w.widget.model_id")
    big = png(900, 800, noise=True)
    send_with_buffers(context_kernel, model_id, "What do you see in {x} pixels?", big, png(64, 48))
    run = context_kernel.run("await asyncio.sleep(0.1)\nwhile w.busy: await asyncio.sleep(0.02)")
    assert run.error is None, run.error
    user = server.records[-1].body["messages"][-1]["content"]
    assert [p["type"] for p in user] == ["text", "image_url", "image_url"]
    assert user[0]["text"] == "What do you see in 42 pixels?"
    answer = ask(context_kernel, "w.turns[-1].answer")
    assert "Image 1: PNG, 900×800 pixels" in answer and "Image 2: PNG, 64×48 pixels" in answer
    run = context_kernel.run('await w.send("Which is bigger?")')
    assert run.error is None
    history = server.records[-1].body["messages"]
    assert [len(m["content"]) if isinstance(m["content"], list) else 0 for m in history] == [3, 0, 0]
    # The saved notebook gets the static transcript: thumbnails, never the 2 MB image.
    [update] = [u for u in run.of_type("update_display_data") if u["transient"]["display_id"] == static_id]
    html = update["data"]["text/html"]
    assert len(html) < 80_000 and html.count('class="glm-thumb"') == 2
    assert (
        "[image 900×800 PNG]" in update["data"]["text/plain"] and "base64" not in update["data"]["text/plain"]
    )
    turn = next(m for m in custom_messages(run, model_id) if m["op"] == "turn")
    assert turn["thumbs"] == []  # the text-only follow-up


def test_a_text_model_refuses_attachments_in_one_line(context_kernel, server):
    model_id = ask(context_kernel, '(w := ChatWidget(model="glm-4.6")).widget.model_id')
    first = len(server.records)
    handled = send_with_buffers(context_kernel, model_id, "Look at {x}", png(8, 8)).wait()
    assert custom_messages(handled, model_id) == [
        {
            "op": "notice",
            "text": "Not sent: glm-4.6 cannot see images: ask a vision model, e.g. chat(model='glm-4.6v')",
        },
        {"op": "draft", "text": "Look at {x}"},
    ]
    assert ask(context_kernel, "len(w.turns)") == 0 and len(server.records) == first
