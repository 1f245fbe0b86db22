"""The client and its capabilities: HTTP, retries and streams (`base`), then what is built on
them, one module each: tools and the tool loop, many prompts, batches, structured answers, record
and replay, content parts and prompt interpolation. No IPython here."""

from .base import AsyncStream, BaseClient, Stream
from .glm import GLMClient

__all__ = ["AsyncStream", "BaseClient", "GLMClient", "Stream"]
