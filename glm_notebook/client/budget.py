"""The spend guard of many prompts: `max_cost=` on `map`, `%%glm --map` and `batch`.

Before anything is sent the run's cost is estimated: prompt tokens from the messages' text (a
deliberately high count: 1 token per 3 ASCII characters, 1 per other character, 1,500 per
image), answer tokens from `max_tokens` when given. Above the cap the run is refused in one
line. While a map runs, a request goes out only while what was spent, plus what the requests
in flight are expected to cost (their prompts, and answers as long as the longest so far or
`max_tokens`), stays within the cap; finished answers are always kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import GLMError
from ..results.cost import PriceLike, format_cost, price_of
from ..results.reply import Reply
from ..wire.events import Usage

__all__ = ["SpendLimitError", "Budget", "estimate_tokens"]

_IMAGE_TOKENS = 1_500


class SpendLimitError(GLMError):
    """A run's estimated cost is above its `max_cost`, or its model has no known price."""


def _text_tokens(text: str) -> int:
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)


def estimate_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """A high estimate of the prompt tokens of `messages` (see the module's docstring)."""
    total = 0
    for message in messages:
        total += 4  # role and framing
        content = message.get("content")
        if isinstance(content, str):
            total += _text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") == "text":
                    total += _text_tokens(str(part.get("text", "")))
                else:
                    total += _IMAGE_TOKENS
    return total


class Budget:
    """A cap in USD on one run of many requests to `model`."""

    def __init__(
        self,
        cap: float,
        model: str,
        *,
        max_tokens: int | None = None,
        batch: bool = False,
        prices: Mapping[str, PriceLike] | None = None,
    ) -> None:
        if not isinstance(cap, (int, float)) or isinstance(cap, bool) or cap < 0:
            raise ValueError(f"max_cost is a number of USD, not {cap!r}")
        price = price_of(model, prices)
        if price is None:
            raise SpendLimitError(
                f"max_cost needs the price of {model!r}, which the price table does not have; "
                "give it with %config GLM.prices or glm_notebook.set_prices."
            )
        self.cap = float(cap)
        self.model = model
        self.price = price
        self.batch = batch
        self.max_tokens = max_tokens
        self.spent = 0.0
        self._longest = 0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return self.price.cost(usage, batch=self.batch)

    def check(self, prompts: Sequence[Sequence[Mapping[str, Any]]]) -> float:
        """The estimate for sending every one of `prompts`; SpendLimitError above the cap."""
        tokens = sum(estimate_tokens(messages) for messages in prompts)
        answers = (self.max_tokens or 0) * len(prompts)
        estimate = self.cost(tokens, answers)
        if estimate > self.cap:
            answer_words = f" + up to {answers:,} answer tokens" if self.max_tokens else ""
            raise SpendLimitError(
                f"{len(prompts):,} prompts would cost about {format_cost(estimate)} "
                f"(~{tokens:,} prompt tokens{answer_words} at {self.model}'s price), above "
                f"max_cost={format_cost(self.cap)}. Raise max_cost or send fewer prompts."
            )
        return estimate

    def expected(self, messages: Sequence[Mapping[str, Any]]) -> float:
        """What one request is expected to cost: its prompt and an answer as long as the longest
        so far (or `max_tokens`, whichever is smaller once answers have come)."""
        answer = self._longest if self._longest else self.max_tokens or 0
        if self.max_tokens:
            answer = min(answer, self.max_tokens)
        return self.cost(estimate_tokens(messages), answer)

    def may_send(self, messages: Sequence[Mapping[str, Any]], in_flight: float) -> bool:
        """Whether a request for `messages` stays within the cap, with `in_flight` expected."""
        return self.spent + in_flight + self.expected(messages) <= self.cap

    def add(self, reply: Reply) -> None:
        """Count a finished answer."""
        if reply.usage is None:
            return
        self.spent += self.price.cost(reply.usage, batch=self.batch)
        self._longest = max(self._longest, reply.usage.completion_tokens)

    def message(self, done: int) -> str:
        return (
            f"Stopped at the spend limit: {format_cost(self.spent)} spent of max_cost={format_cost(self.cap)}; "
            f"{done} finished result(s) are kept; raise max_cost and run the same map again to continue."
        )
