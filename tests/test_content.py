"""Notebook things as prompt content, without a kernel: image parts from every kind of object
(sizes, limits, downscale / re-encode, no Base64 in reprs), the local server's vision emulation,
the client's 1210 fallback between data URL and bare Base64, value summaries, code extraction."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glm_notebook import BadRequestError, GLMClient
from glm_notebook.client.content import (
    ImageError,
    content_parts,
    image_part,
    is_image,
    is_vision_model,
    switch_image_form,
)
from glm_notebook.client.summaries import TEXT_CAP, summarize
from glm_notebook.results.codeblocks import answer_code, code_blocks
from glm_notebook.server import LocalServer, ServerConfig


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), "navy").save(buffer, format="PNG")
    return buffer.getvalue()


def b64_of(part: dict) -> str:
    return part["image_url"]["url"].split(",", 1)[-1]


# -- image parts ------------------------------------------------------------------------------


def test_every_kind_of_object_becomes_a_png_or_jpeg_part(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    from IPython.display import Image as IPythonImage

    jpeg = io.BytesIO()
    Image.new("RGB", (30, 20)).save(jpeg, format="JPEG")
    path = tmp_path / "shot.png"
    path.write_bytes(png(64, 48))
    figure = plt.figure(figsize=(4, 3), dpi=50)
    figure.add_subplot().plot([1, 3, 2])
    cases = {
        "pil": (Image.new("RGBA", (640, 480)), "[image 640×480 PNG]"),
        "uint8 array": (np.zeros((48, 64, 3), np.uint8), "[image 64×48 PNG]"),
        "float array": (np.ones((10, 20, 4)) * 0.5, "[image 20×10 PNG]"),
        "png bytes": (png(7, 5), "[image 7×5 PNG]"),
        "jpeg bytes": (jpeg.getvalue(), "[image 30×20 JPEG]"),
        "path": (path, "[image 64×48 PNG]"),
        "ipython image": (IPythonImage(data=png(12, 8)), "[image 12×8 PNG]"),
    }
    for name, (obj, placeholder) in cases.items():
        assert is_image(obj), name
        part = image_part(obj)
        assert part.placeholder == placeholder, name
        assert part["type"] == "image_url" and part["image_url"]["url"].startswith(
            f"data:{part.mime};base64,"
        )
        assert part.note == "", name
        assert Image.open(io.BytesIO(part.data)).size == (part.width, part.height)
    plot = image_part(figure)
    assert plot.mime == "image/png" and 100 < plot.width < 250 and 80 < plot.height < 200
    plt.close(figure)


def test_things_that_are_not_images_stay_text(tmp_path: Path) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    for obj in ("a string", b"plain bytes", gif.getvalue(), np.zeros((3, 4)), tmp_path / "notes.txt", 42):
        assert not is_image(obj)
    with pytest.raises(ImageError, match="is not an image"):
        image_part(np.zeros((3, 4)))
    with pytest.raises(ImageError, match="cannot read"):
        image_part(tmp_path / "missing.png")


def test_too_large_images_are_downscaled_or_re_encoded_and_say_so() -> None:
    wide = image_part(Image.new("RGB", (7000, 100)))
    assert wide.placeholder == "[image 6000×86 PNG]"
    assert wide.note.startswith("image downscaled from 7000×100 to 6000×86 to fit the service's limits")
    noise = np.random.default_rng(7).integers(0, 256, (1500, 1500, 3), dtype=np.uint8)
    big = image_part(Image.fromarray(noise).resize((2400, 2400)))
    assert big.mime == "image/jpeg" and big.size <= 5 * 2**20
    assert "re-encoded as JPEG" in big.note


def test_base64_never_shows_in_reprs() -> None:
    part = image_part(png(640, 480))
    blob = b64_of(part)
    parts = content_parts(["Look:", part, "", "and tell me"])
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    for shown in (repr(part), str(part), repr(parts), str(parts), repr({"content": parts})):
        assert blob[:40] not in shown and "[image 640×480 PNG]" in shown


def test_vision_model_names() -> None:
    for model in ("glm-4.6v", "glm-4.5v", "glm-5v-turbo", "glm-4v-plus", "glm-4.1v-thinking-flash"):
        assert is_vision_model(model), model
    for model in ("glm-4.6", "glm-4.5-air", "glm-5", "glm-z1-air", "charglm-3"):
        assert not is_vision_model(model), model


def test_switching_the_form_leaves_the_callers_messages_alone() -> None:
    part = image_part(png(3, 2))
    messages = [{"role": "user", "content": ["hi", part]}]
    body = [dict(m) for m in messages]
    assert switch_image_form(body, bare=True) == 1
    assert body[0]["content"][1]["image_url"]["url"] == b64_of(part)
    assert messages[0]["content"][1] is part and part["image_url"]["url"].startswith("data:")
    assert repr(body[0]["content"][1]) == repr(part)
    assert (
        switch_image_form(body, bare=False) == 1
        and body[0]["content"][1]["image_url"]["url"] == part["image_url"]["url"]
    )


# -- against the local server -------------------------------------------------------------------


def ask(client: GLMClient, model: str, *pieces: object):
    return client.chat([{"role": "user", "content": content_parts(pieces)}], model=model, thinking=False)


def test_vision_model_describes_the_image(server) -> None:
    client = GLMClient(server.api_key, server.base_url)
    part = image_part(png(640, 480))
    reply = ask(client, "glm-4.6v", "What is this?", part)
    assert reply.text == f"I see 1 image(s):\n\n- Image 1: PNG, 640×480 pixels, {part.size:,} bytes."
    sent = server.records[-1].body["messages"][0]["content"]
    assert sent[0] == {"type": "text", "text": "What is this?"} and sent[1]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )


def test_text_model_refuses_images(server) -> None:
    client = GLMClient(server.api_key, server.base_url)
    with pytest.raises(BadRequestError) as info:
        ask(client, "glm-4.6", "What is this?", png(8, 8))
    assert info.value.code == "1214" and "does not accept image input" in str(info.value)


def test_1210_on_a_data_url_retries_once_with_bare_base64_and_remembers() -> None:
    with LocalServer(ServerConfig(api_key="k-1210", bare_image_models=("glm-4.5v",))) as local:
        client = GLMClient(local.api_key, local.base_url, max_retries=0)
        messages = [{"role": "user", "content": content_parts(["Describe", png(20, 10)])}]
        first = client.chat(messages, model="glm-4.5v")
        assert first.text.startswith("I see 1 image(s):") and "20×10" in first.text
        urls = [r.body["messages"][0]["content"][1]["image_url"]["url"] for r in local.records]
        assert [r.status for r in local.records] == [400, 200]
        assert urls[0].startswith("data:image/png;base64,") and urls[1] == urls[0].split(",", 1)[1]
        assert messages[0]["content"][1]["image_url"]["url"] == urls[0]  # the caller's list unchanged
        again = asyncio.run(_achat(client, messages))
        assert again.text == first.text
        assert len(local.records) == 3 and not local.records[2].body["messages"][0]["content"][1][
            "image_url"
        ]["url"].startswith("data:")
        # Another model keeps the documented form.
        ask(client, "glm-4.6v", "Describe", png(20, 10))
        assert local.records[3].body["messages"][0]["content"][1]["image_url"]["url"].startswith("data:")


async def _achat(client: GLMClient, messages: list) -> object:
    async with client:
        return await client.achat(messages, model="glm-4.5v")


def test_a_1210_that_is_not_about_images_is_not_retried(server) -> None:
    client = GLMClient(server.api_key, server.base_url, max_retries=0)
    before = len(server.records)
    with pytest.raises(BadRequestError):
        ask(client, "glm-4.6v", "x [[status=400,code=1210,message=bad_temperature]]", png(4, 4))
    assert len(server.records) == before + 1


def test_heavy_libraries_are_not_imported_by_the_package() -> None:
    code = (
        "import sys, glm_notebook, glm_notebook.client.content, glm_notebook.client.summaries, glm_notebook.results.codeblocks\n"
        "print(sorted(m for m in ('PIL', 'numpy', 'pandas', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- summaries and code ---------------------------------------------------------------------------


def test_summaries() -> None:
    import pandas as pd

    frame = pd.DataFrame({"name": ["a|b", "x" * 100], "n": [1, 2]})
    assert summarize(frame) == (
        f"pandas DataFrame: 2 rows × 2 columns\nColumns (dtype): name ({frame['name'].dtype}), n (int64)\n\n"
        "|  | name | n |\n|---|---|---|\n| 0 | a\\|b | 1 |\n| 1 | " + "x" * 59 + "… | 2 |"
    )
    assert "x" * 100 in summarize(frame, full=True)
    big = summarize(pd.DataFrame({"n": range(1_000_000)}), full=True)
    assert big.endswith(
        "| 12232 | 12232 |\n[… 12,233 of 1,000,000 rows sent; the rest would pass the 200,000-character limit]"
    )
    series = summarize(pd.Series(range(20), name="k"))
    assert series.startswith("pandas Series 'k': 20 values, dtype int64") and "| … | … |" in series
    assert summarize("y" * (TEXT_CAP + 5), name="doc").endswith(
        f"[… cut after {TEXT_CAP:,} of {TEXT_CAP + 5:,} characters; write {{doc!full}} to send more]"
    )

    class Own:
        def _repr_llm_(self) -> str:
            return "mine"

    assert summarize(Own()) == "mine" and summarize(3) == "3"


def test_answer_code() -> None:
    text = "Try:\n\n```python\nx = 1\n```\n\n1. then\n\n   ~~~py\n   y = 2\n   ~~~\n\n```bash\nls\n```\n"
    assert [b.language for b in code_blocks(text)] == ["python", "py", "bash"]
    assert answer_code(text) == "x = 1\n\ny = 2"
    assert answer_code("```bash\nls -l\n```") == "ls -l"
    assert answer_code("no code") == ""
    assert answer_code("```python\nunfinished = True") == "unfinished = True"


# -- images are untrusted bytes -------------------------------------------------------------------

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(/tmp/pwned) (w) file closefile\nshowpage\n"


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width`×`height` and holds no pixels (a decompression-bomb header)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_postscript_posing_as_an_image_is_never_handed_to_ghostscript(tmp_path) -> None:
    from glm_notebook.client.content import open_image
    from glm_notebook.notebook.widget import _image

    fake = tmp_path / "chart.png"
    fake.write_bytes(EPS)
    for attempt in (lambda: image_part(fake), lambda: open_image(EPS), lambda: _image(EPS)):
        # refused as a format not read here (Pillow was told PNG, JPEG, GIF, WEBP, BMP only)
        with pytest.raises(
            ImageError, match=r"not an image in a format read here \(PNG, JPEG, GIF, WEBP, BMP\)$"
        ) as caught:
            attempt()
        assert "\n" not in str(caught.value)
    assert not Path("/tmp/pwned").exists()


def test_a_huge_declared_size_is_refused_before_decoding() -> None:
    from glm_notebook.client.content import MAX_DECODE_PIXELS, open_image

    bomb = _png_header(12000, 12000)
    assert len(bomb) < 200
    with pytest.raises(ImageError, match=r"12,000×12,000 px, more than the 36 million pixels"):
        open_image(bomb)
    with pytest.raises(ImageError, match="million pixels"):
        image_part(bomb)
    with pytest.raises(ImageError, match="far more than the 36 million pixels"):
        open_image(_png_header(50_000, 50_000))  # past Pillow's own bomb limit
    small = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(small, format="PNG")
    assert open_image(small.getvalue()).size == (40, 30) and 40 * 30 < MAX_DECODE_PIXELS
