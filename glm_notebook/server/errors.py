"""Z.ai business errors: the exception the handlers raise and the default codes and messages."""

from __future__ import annotations

__all__ = ["ApiError", "default_code", "default_message"]

_MESSAGES = {
    "500": "Internal Error",
    "1000": "Authentication failed",
    "1001": "Authentication parameter not received in Header",
    "1002": "Invalid Authentication Token",
    "1113": "Insufficient balance or no resource package. Please recharge.",
    "1200": "API call error",
    "1211": "Unknown Model, please check the model code.",
    "1214": "Invalid request parameter",
    "1220": "You do not have permission to access this API",
    "1222": "The API does not exist",
    "1234": "Network error, please try again later",
    "1301": "System detected potentially unsafe or sensitive content in input or generation.",
    "1302": "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits",
    "1303": "High frequency usage of this API, please reduce frequency or contact customer service to increase limits",
    "1305": "The service may be temporarily overloaded, please try again later",
}


def default_code(status: int) -> str:
    """The business code the service pairs with an HTTP status."""
    if status >= 500:
        return "500"
    return {400: "1214", 401: "1000", 403: "1220", 404: "1222", 429: "1302"}.get(status, "1200")


def default_message(code: str) -> str:
    """The service's wording for a business code."""
    return _MESSAGES.get(code, "API call error")


class ApiError(Exception):
    """An error reply: HTTP status, Z.ai business code and message."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        flat: bool = False,
        retry_after: str | None = None,
    ) -> None:
        self.status = status
        self.code = code or default_code(status)
        self.message = message or default_message(self.code)
        self.flat = flat
        self.retry_after = retry_after
        super().__init__(f"{status} {self.code}: {self.message}")
