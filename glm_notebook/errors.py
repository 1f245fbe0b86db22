"""Exceptions raised by glm_notebook. Catch `GLMError` to catch them all.

```
GLMError                      anything that went wrong talking to the model
├── MissingAPIKeyError        no key given, in ZAI_API_KEY or in %config GLM.api_key
├── InvalidAPIKeyError        the key holds a line break, space, control or non-ASCII character
├── APIStatusError            the service answered with an HTTP error (status, code, message)
│   ├── AuthenticationError   401 / codes 1000-1004: the key was rejected
│   ├── BadRequestError       400 / codes 1210-1222, 1301: a parameter or the prompt was refused
│   ├── RateLimitError        codes 1302, 1303, 1305: too busy right now, try again
│   ├── QuotaError            codes 1110-1113, 1121, 1304, 1308-1313: account or quota problem
│   └── ServerError           5xx: the service failed
├── APIConnectionError        no connection could be made (DNS, refused, TLS, dropped before data)
│   └── APITimeoutError       connecting, or waiting for the next piece of the stream, timed out
└── StreamError               the answer started but did not finish properly
    ├── ServiceStreamError    the service sent an error frame inside the stream
    ├── ProtocolError         not the expected event stream: invalid JSON, a chunk of the wrong
    │                         shape, an undecodable body, a reply or line over the size caps
    └── IncompleteStreamError the connection closed before the final chunk
```

Every error carries `status` (HTTP), `code` and `server_message` (Z.ai's business code and text,
when the service sent them: one line, control sequences removed, at most 300 characters) and
`reply`: the partial `Reply` when any of the answer arrived. `str(error)` is one line for a
notebook user. The API key never appears in it.

`InsecureURLWarning` is warned (once per base URL) when the key would travel over plain http
to another machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results.reply import Reply

__all__ = [
    "GLMError",
    "MissingAPIKeyError",
    "InvalidAPIKeyError",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "RateLimitError",
    "QuotaError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamError",
    "ServiceStreamError",
    "ProtocolError",
    "IncompleteStreamError",
    "InsecureURLWarning",
    "RETRYABLE_CODES",
    "error_for_status",
]

#: Z.ai business codes worth retrying before any data arrived.
RETRYABLE_CODES = frozenset({"1302", "1303", "1305", "1234", "1120"})
_AUTH_CODES = frozenset({"1000", "1001", "1002", "1003", "1004"})
_RATE_CODES = frozenset({"1302", "1303", "1305"})
_QUOTA_CODES = frozenset({"1110", "1111", "1112", "1113", "1121", "1304", "1308", "1309", "1310", "1313"})


class GLMError(Exception):
    """Base class: something went wrong talking to the model."""

    hint = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        server_message: str | None = None,
        reply: Reply | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.server_message = server_message
        self.reply = reply
        #: Seconds the service asked us to wait (`Retry-After`), if it said.
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return False

    def __str__(self) -> str:
        if not self.hint:
            return self.message
        end = "" if self.message.rstrip().endswith((".", "!", "?", ":")) else "."
        return f"{self.message.rstrip()}{end} {self.hint}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: one line, the partial answer stays above it.
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class MissingAPIKeyError(GLMError):
    """No API key was given, found in ZAI_API_KEY, or configured."""

    def __init__(self) -> None:
        super().__init__(
            "No Z.ai API key: set the ZAI_API_KEY environment variable, "
            'or run %config GLM.api_key = "..." in the notebook, or pass api_key=... to GLMClient.'
        )


class InvalidAPIKeyError(GLMError):
    """The key cannot be sent: it holds a line break, a space, a control or non-ASCII character.

    Raised before any request. The message says what is wrong and where, never the key itself
    (at most its last four characters, as `mask_key` shows them).
    """

    def __init__(self, problem: str, shown: str = "…") -> None:
        named = f" ({shown})" if shown not in ("…", "(not set)") else ""
        super().__init__(
            f"The Z.ai API key{named} {problem}. Set it again in one piece "
            "(ZAI_API_KEY, %config GLM.api_key or api_key=...); no request was sent."
        )


class APIStatusError(GLMError):
    """The service answered with an HTTP error status."""

    @property
    def retryable(self) -> bool:
        if self.code in RETRYABLE_CODES:
            return True
        if self.code in _QUOTA_CODES or self.code in _AUTH_CODES:
            return False
        return self.status is not None and self.status >= 500


class AuthenticationError(APIStatusError):
    """The API key was rejected (401, codes 1000-1004)."""

    hint = "Check ZAI_API_KEY (or %config GLM.api_key) and that the key fits this base URL."


class BadRequestError(APIStatusError):
    """The request was refused: a parameter, the model name or the content (400)."""


class RateLimitError(APIStatusError):
    """The service is busy or the request rate is too high (1302, 1303, 1305)."""

    hint = "Wait a moment and run it again."


class QuotaError(APIStatusError):
    """An account or quota problem: arrears, usage limits, plan expiry (never retried)."""

    hint = "Check your Z.ai account balance and plan."


class ServerError(APIStatusError):
    """The service failed (5xx)."""

    hint = "The service had a problem; try again shortly."


class APIConnectionError(GLMError):
    """The connection to the service could not be made or was lost before any data."""

    @property
    def retryable(self) -> bool:
        return True


class APITimeoutError(APIConnectionError):
    """Connecting, or waiting for the next piece of the stream, took too long.

    `waited` is True for a read timeout: the whole timeout already went by, so it is not retried.
    """

    def __init__(self, message: str, *, waited: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.waited = waited

    @property
    def retryable(self) -> bool:
        return not self.waited


class StreamError(GLMError):
    """The answer started but the stream did not finish properly."""


class ServiceStreamError(StreamError):
    """The service sent an error frame inside the stream."""

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES


class ProtocolError(StreamError):
    """The reply was not a valid event stream (wrong content type, invalid JSON frame)."""


class IncompleteStreamError(StreamError):
    """The connection closed before the final chunk arrived."""

    @property
    def retryable(self) -> bool:
        return True


class InsecureURLWarning(UserWarning):
    """The base URL is plain http to another machine: the API key would travel unencrypted."""


def _describe(status: int | None, code: str | None, message: str | None) -> str:
    parts = [f"HTTP {status}" if status else None, f"code {code}" if code else None]
    where = ", ".join(p for p in parts if p)
    text = message or "no message"
    return f"Z.ai error ({where}): {text}" if where else f"Z.ai error: {text}"


def error_for_status(status: int, code: str | None, message: str | None, **kw: Any) -> GLMError:
    """The most specific error for an HTTP error reply from the service."""
    code = str(code) if code is not None else None
    if status == 401 or code in _AUTH_CODES:
        cls: type[APIStatusError] = AuthenticationError
    elif code in _QUOTA_CODES:
        cls = QuotaError
    elif code in _RATE_CODES:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    elif status == 429:
        cls = RateLimitError
    else:
        cls = BadRequestError
    return cls(_describe(status, code, message), status=status, code=code, server_message=message, **kw)
