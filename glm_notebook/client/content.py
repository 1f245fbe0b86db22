"""Image content parts for vision models (glm-4.6v, glm-4.5v, …), built from notebook objects.

```python
from glm_notebook import GLMClient, image_part
client.chat([{"role": "user", "content": ["What is in this plot?", image_part(fig)]}], model="glm-4.6v")
```

`image_part(obj)` takes a matplotlib Figure, a PIL Image, a NumPy image array (height × width ×
3 or 4), an IPython `Image` (or anything with `_repr_png_` / `_repr_jpeg_`), PNG/JPEG bytes or a
`pathlib.Path` to a file, and returns an `ImagePart`: the documented
`{"type": "image_url", "image_url": {"url": "data:image/png;base64,…"}}` dict, whose repr and
`placeholder` ("[image 640×480 PNG]") never show the Base64.

The service takes PNG or JPEG up to `MAX_BYTES` and `MAX_SIDE` pixels a side: larger images, and
other formats, are downscaled / re-encoded (which needs Pillow: `pip install glm-notebook[vision]`)
and `ImagePart.note` says what was done. Nothing is dropped silently: an image that cannot be
made to fit raises `ImageError`. Pillow, NumPy and matplotlib are imported only when such an
object is passed.
"""

from __future__ import annotations

import base64
import io
import os
import re
import struct
import warnings
from collections.abc import Iterable
from typing import Any

__all__ = [
    "ImageError",
    "ImagePart",
    "image_part",
    "is_image",
    "content_parts",
    "has_images",
    "image_placeholder",
    "image_header",
    "switch_image_form",
    "thumbnail",
    "vision_error",
    "MAX_BYTES",
    "THUMB_SIDE",
    "MAX_SIDE",
    "MAX_DECODE_PIXELS",
    "READ_FORMATS",
    "open_image",
    "VISION_MODEL",
    "is_vision_model",
]

#: Largest image the service takes (bytes of the encoded file).
MAX_BYTES = 5 * 1024 * 1024
#: Largest width or height (pixels).
MAX_SIDE = 6000
#: The vision model named in errors and notes.
VISION_MODEL = "glm-4.6v"
#: Longest side of a `thumbnail` (pixels).
THUMB_SIDE = 160
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_VISION = re.compile(r"(?:^|[-_])(?:\d+(?:\.\d+)*v|v\d*|vision)(?:[-_]|$)|\dv(?:[-_]|$)", re.I)


class ImageError(ValueError):
    """An object could not be turned into an image the service accepts."""


def is_vision_model(model: str) -> bool:
    """True for model names that take images (`glm-4.6v`, `glm-4.5v`, `glm-5v-turbo`, `…-vision`)."""
    return bool(_VISION.search(model.lower()))


def vision_error(model: str, example: str) -> str:
    """The one line for images sent to a text model; `example` shows how to pick a vision model
    where the user is (`%%glm -m glm-4.6v`, `chat(model="glm-4.6v")`)."""
    return f"{model} cannot see images: ask a vision model, e.g. {example}"


class ImagePart(dict[str, Any]):
    """An `image_url` content part (a plain dict on the wire) that knows its size and format
    and never shows its Base64 in a repr."""

    def __init__(self, data: bytes, mime: str, width: int, height: int, note: str = "") -> None:
        encoded = base64.b64encode(data).decode("ascii")
        super().__init__(type="image_url", image_url={"url": f"data:{mime};base64,{encoded}"})
        self.mime, self.width, self.height, self.note, self.size = mime, width, height, note, len(data)

    @property
    def placeholder(self) -> str:
        """What transcripts show instead of the image: `[image 640×480 PNG]`."""
        return f"[image {self.width}×{self.height} {self.mime.split('/')[1].upper()}]"

    @property
    def data(self) -> bytes:
        """The encoded image file."""
        url = self["image_url"]["url"]
        return base64.b64decode(url.split(",", 1)[1] if url.startswith("data:") else url)

    def __repr__(self) -> str:
        return f"<ImagePart {self.placeholder} {self.size:,} bytes>"

    __str__ = __repr__


def image_placeholder(part: Any) -> str:
    """`[image W×H FMT]` for an `ImagePart`, `[image]` for any other image part."""
    return part.placeholder if isinstance(part, ImagePart) else "[image]"


def thumbnail(part: Any, side: int = THUMB_SIDE) -> str | None:
    """A small preview of an image part as a `data:image/jpeg;base64,…` URL (at most `side`
    pixels a side, a few kB), re-encoded by Pillow so that only pixels pass through; None without
    Pillow or for data it cannot read (show `image_placeholder(part)` then)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    url = str(((part.get("image_url") or {}) if isinstance(part, dict) else {}).get("url", ""))
    try:
        data = base64.b64decode(url.split(",", 1)[1] if url.startswith("data:") else url)
        image = open_image(data, ("PNG", "JPEG"), draft=side)
        image.thumbnail((side, side))
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=75)
    except Exception:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_header(data: bytes) -> tuple[str, int, int] | None:
    """(mime, width, height) read from a PNG or JPEG header, or None for other data."""
    if data.startswith(_PNG) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    if data.startswith(_JPEG):
        at = 2
        while at + 9 < len(data):
            if data[at] != 0xFF:
                at += 1
                continue
            marker = data[at + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                at += 1 if marker == 0xFF else 2
                continue
            length = struct.unpack(">H", data[at + 2 : at + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[at + 5 : at + 9])
                return "image/jpeg", width, height
            at += 2 + length
    return None


def _kind(obj: Any) -> str | None:
    """Which kind of image `obj` is, judged without importing anything."""
    cls = type(obj)
    module = cls.__module__.split(".")[0]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return "bytes" if bytes(obj[:8]).startswith((_PNG, _JPEG)) else None
    if isinstance(obj, os.PathLike):
        return "path" if os.fspath(obj).lower().endswith(tuple(_SUFFIXES)) else None
    if module == "matplotlib" and hasattr(obj, "savefig"):
        return "figure"
    if module == "PIL" and hasattr(obj, "save") and hasattr(obj, "mode"):
        return "pil"
    if module == "numpy" and cls.__name__ == "ndarray":
        shape: tuple[int, ...] = tuple(getattr(obj, "shape", ()))
        return "array" if len(shape) == 3 and shape[2] in (3, 4) and shape[0] and shape[1] else None
    if callable(getattr(obj, "_repr_png_", None)) or callable(getattr(obj, "_repr_jpeg_", None)):
        return "repr" if module == "IPython" or hasattr(obj, "data") else None
    return None


def is_image(obj: Any) -> bool:
    """True when `image_part(obj)` would treat `obj` as an image."""
    return _kind(obj) is not None


#: Formats Pillow may read here: the service's two, and what people paste or drop (converted).
#: Never EPS, PS or PDF, which Pillow would hand to Ghostscript.
READ_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
#: The most pixels decoded at full size (a 6000×6000 image): a small file can declare far more
#: (12000×12000 PNG in 560 kB costs 1.5 GB); past it a JPEG is decoded at a fraction of its size
#: and anything else is refused, before any pixel is decoded.
MAX_DECODE_PIXELS = MAX_SIDE * MAX_SIDE


def open_image(data: bytes, formats: tuple[str, ...] = READ_FORMATS, *, draft: int | None = None) -> Any:
    """`data` decoded by Pillow, only as one of `formats` and within `MAX_DECODE_PIXELS`
    (`ImageError` otherwise, in one line). With `draft`, a JPEG is decoded at the smallest
    fraction of its size that is still `draft` pixels a side (for thumbnails)."""
    pillow = _pillow()
    try:
        with warnings.catch_warnings():  # our own bound below says it better than Pillow's warning
            warnings.simplefilter("ignore", pillow.DecompressionBombWarning)
            image = pillow.open(io.BytesIO(data), formats=list(formats))
    except pillow.DecompressionBombError:
        raise ImageError(
            f"the image declares far more than the {MAX_DECODE_PIXELS // 10**6} million pixels "
            "decoded here: downscale it first"
        ) from None
    except Exception:  # Pillow raises many kinds for bad data
        raise ImageError(f"the file is not an image in a format read here ({', '.join(formats)})") from None
    width, height = image.size
    if draft is not None:
        image.draft("RGB", (draft, draft))
    if image.size[0] * image.size[1] > MAX_DECODE_PIXELS:
        if image.format == "JPEG":
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decoded at 1/2, 1/4 or 1/8 of its size
        if image.size[0] * image.size[1] > MAX_DECODE_PIXELS:
            raise ImageError(
                f"the image is {width:,}×{height:,} px, more than the {MAX_DECODE_PIXELS // 10**6} "
                "million pixels decoded here: downscale it first"
            )
    try:
        image.load()
    except Exception as exc:
        raise ImageError(f"the image data is damaged ({type(exc).__name__})") from None
    return image


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImageError(
            "resizing or converting images needs Pillow: pip install 'glm-notebook[vision]'"
        ) from None
    return Image


def _encoded(obj: Any, kind: str) -> Any:
    """The object as the bytes of an image file, or (PIL images, arrays) as a PIL image."""
    if kind == "bytes":
        return bytes(obj)
    if kind == "path":
        with open(obj, "rb") as file:
            return file.read()
    if kind == "figure":
        buffer = io.BytesIO()
        obj.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    if kind == "array":
        import numpy as np

        array = np.asarray(obj)
        if array.dtype != np.uint8:
            scale = 255 if array.dtype.kind == "f" and float(array.max(initial=0)) <= 1.0 else 1
            array = np.clip(array * scale, 0, 255).astype(np.uint8)
        obj = _pillow().fromarray(array)
    if kind in ("pil", "array"):
        return obj if obj.mode in ("RGB", "RGBA", "L", "LA", "P") else obj.convert("RGBA")
    for method in ("_repr_png_", "_repr_jpeg_"):  # IPython Image and friends
        render = getattr(obj, method, None)
        data = render() if callable(render) else None
        if isinstance(data, tuple):
            data = data[0]
        if isinstance(data, str):
            data = base64.b64decode(data)
        if data:
            return bytes(data)
    raise ImageError(f"{type(obj).__name__} holds no PNG or JPEG data")


def _fit(source: Any) -> tuple[bytes, str, int, int, str]:
    """Image bytes (or a PIL image) within the limits: (data, mime, width, height, note on what
    was changed)."""
    if isinstance(source, bytes):
        header = image_header(source)
        if header and header[1] <= MAX_SIDE and header[2] <= MAX_SIDE and len(source) <= MAX_BYTES:
            return source, *header, ""
        image = open_image(source)
        converted = header is None
    else:
        image, converted = source, False
    original = image.size
    changes = []
    if max(original) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        changes.append(f"downscaled from {original[0]}×{original[1]} to {image.size[0]}×{image.size[1]}")
    out, mime = _save(image, "PNG"), "image/png"
    if converted:
        changes.append(f"converted from {image.format or 'its format'} to PNG")
    if not changes and len(out) <= MAX_BYTES:
        return out, mime, image.size[0], image.size[1], ""
    while len(out) > MAX_BYTES:
        if mime == "image/png":
            out, mime = _save(image.convert("RGB"), "JPEG"), "image/jpeg"
            changes.append("re-encoded as JPEG")
            continue
        if min(image.size) < 64:
            raise ImageError(f"the image does not fit in {MAX_BYTES // 2**20} MB")
        image = image.resize((image.size[0] * 3 // 4, image.size[1] * 3 // 4))
        out = _save(image.convert("RGB"), "JPEG")
    if mime == "image/jpeg" and image.size != original and not changes[0].startswith("downscaled"):
        changes.insert(0, f"downscaled from {original[0]}×{original[1]} to {image.size[0]}×{image.size[1]}")
    note = f"image {', '.join(changes)} to fit the service's limits ({MAX_BYTES // 2**20} MB, {MAX_SIDE}×{MAX_SIDE} px, PNG/JPEG)"
    return out, mime, image.size[0], image.size[1], note


def _save(image: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def image_part(obj: Any) -> ImagePart:
    """An `image_url` content part for `obj` (see the module docstring for what it takes)."""
    if isinstance(obj, ImagePart):
        return obj
    kind = _kind(obj)
    if kind is None:
        raise ImageError(
            f"{type(obj).__name__} is not an image (PNG/JPEG bytes or file, Figure, PIL Image, array)"
        )
    try:
        data = _encoded(obj, kind)
    except OSError as exc:
        raise ImageError(f"cannot read {os.fspath(obj)!r}: {exc.strerror or exc}") from None
    return ImagePart(*_fit(data))


def content_parts(pieces: Iterable[Any]) -> list[dict[str, Any]]:
    """A message's `content` list from text and images in order (empty text is left out)."""
    parts: list[dict[str, Any]] = []
    for piece in pieces:
        if isinstance(piece, str):
            if piece.strip():
                parts.append({"type": "text", "text": piece})
        else:
            parts.append(image_part(piece))
    return parts


def has_images(messages: Any) -> bool:
    """True when any message's content holds an `image_url` part."""
    if isinstance(messages, str):
        return False
    return any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
    )


def switch_image_form(messages: list[dict[str, Any]], bare: bool) -> int:
    """Rewrite the image parts of `messages` to bare Base64 (`bare`) or data URLs, giving each
    changed message a new content list (the caller's lists stay as they were); return how many
    parts changed. Some GLM models reject one of the two forms with error 1210."""
    changed = 0
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        new_content = []
        for part in content:
            url = str(((part.get("image_url") or {}) if isinstance(part, dict) else {}).get("url", ""))
            new = None
            if isinstance(part, dict) and part.get("type") == "image_url":
                if bare and url.startswith("data:"):
                    new = url.split(",", 1)[1]
                elif not bare and not url.startswith(("data:", "http://", "https://")):
                    mime = "image/jpeg" if url.startswith("/9j/") else "image/png"
                    new = f"data:{mime};base64,{url}"
            if new is None:
                new_content.append(part)
                continue
            clone = ImagePart.__new__(ImagePart) if isinstance(part, ImagePart) else {}
            if isinstance(part, ImagePart):
                clone.__dict__.update(part.__dict__)
            clone.update(part, image_url={**part["image_url"], "url": new})
            new_content.append(clone)
            changed += 1
        message["content"] = new_content
    return changed
