"""Vision model emulation: image parts accepted on vision model names, refused on text models,
the data-URL form refused with 1210 for the models in `ServerConfig.bare_image_models` (as some
GLM models are reported to do), and a deterministic answer describing each image's format and size.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from typing import Any

from ..client.content import image_header, is_vision_model
from .answers import Answer
from .errors import ApiError

__all__ = ["check_images", "image_answer", "image_parts"]


def image_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The `image_url` parts of one message."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, dict) and p.get("type") == "image_url"]


def _decode(part: dict[str, Any], position: str) -> bytes:
    url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
    if not isinstance(url, str) or not url:
        raise ApiError(400, "1214", f"Invalid parameter {position}.image_url.url: a string is required")
    data = url.split(",", 1)[1] if url.startswith("data:") and "," in url else url
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "1210", f"Image format error at {position}: not Base64 image data") from None


def check_images(model: str, messages: Sequence[dict[str, Any]], bare_models: Iterable[str]) -> None:
    """Refuse image parts the way the service does: on text models (1214), in the data-URL form
    on models that want bare Base64 (1210), over 5 MB / 6000 px or not PNG/JPEG (1210)."""
    for index, message in enumerate(messages):
        for number, part in enumerate(image_parts(message)):
            position = f"messages[{index}].content[{number}]"
            if not is_vision_model(model):
                raise ApiError(
                    400, "1214", f"Invalid parameter {position}: model {model} does not accept image input"
                )
            url = str((part.get("image_url") or {}).get("url", ""))
            if url.startswith("data:") and model in bare_models:
                raise ApiError(
                    400,
                    "1210",
                    "Image format error: image_url.url must be Base64 data without a data: prefix",
                )
            data = _decode(part, position)
            found = image_header(data)
            if found is None:
                raise ApiError(
                    400, "1210", f"Image format error at {position}: only PNG and JPEG are supported"
                )
            _, width, height = found
            if len(data) > 5 * 1024 * 1024 or max(width, height) > 6000:
                raise ApiError(
                    400, "1210", f"Image too large at {position}: at most 5 MB and 6000×6000 pixels"
                )


def image_answer(messages: Sequence[dict[str, Any]], *, thinking: bool) -> Answer | None:
    """A deterministic description of the images of the last user message, or None."""
    users = [m for m in messages if m.get("role") == "user"]
    parts = image_parts(users[-1]) if users else []
    if not parts:
        return None
    lines = []
    for number, part in enumerate(parts, 1):
        data = _decode(part, f"image {number}")
        mime, width, height = image_header(data) or ("image/?", 0, 0)
        lines.append(
            f"- Image {number}: {mime.split('/')[1].upper()}, {width}×{height} pixels, {len(data):,} bytes."
        )
    reasoning = (
        f"The user sent {len(parts)} image(s). I will describe their format and size." if thinking else ""
    )
    return Answer(reasoning, f"I see {len(parts)} image(s):\n\n" + "\n".join(lines))
