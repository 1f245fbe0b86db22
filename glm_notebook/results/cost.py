"""What tokens cost: a dated price table per model and the arithmetic on a `Usage`. No I/O.

```python
cost_of("glm-4.6", reply.usage)             # USD, or None for a model with no known price
set_prices({"my-model": (0.5, 0.1, 2.0)})   # input, cached input, output per million tokens
```

Prices are USD per million tokens: input, cached input (prompt tokens the service served from
its implicit cache, `usage.cached_tokens`), output (answer and reasoning). A model missing from
the table has no price: `None`, said once per model with an `UnknownPriceWarning`, never a
made-up number. Free models cost 0. Batch jobs are billed at half price.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..wire.events import Usage

__all__ = [
    "Price",
    "PRICES",
    "PRICES_DATE",
    "PRICES_SOURCE",
    "UnknownPriceWarning",
    "BATCH_DISCOUNT",
    "PriceLike",
    "as_price",
    "checked_prices",
    "cost_of",
    "price_of",
    "set_prices",
    "total_cost",
    "format_cost",
]

PRICES_DATE = "2026-03"
PRICES_SOURCE = (
    "docs.z.ai pricing page (a snapshot from before GLM-5.1; cached-input storage free for a "
    "limited time); batch discount from the mainland docs"
)
#: Batch jobs cost this fraction of the listed price.
BATCH_DISCOUNT = 0.5


class UnknownPriceWarning(UserWarning):
    """A model has no price in the table: its cost is None (said once per model)."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens. `cached_input` None: cached tokens cost the input price."""

    input: float
    cached_input: float | None
    output: float

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        """The cost of `usage` in USD (at the batch price with `batch=True`)."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        total = (
            (usage.prompt_tokens - cached) * self.input
            + cached * cached_price
            + usage.completion_tokens * self.output
        ) / 1_000_000
        return total * BATCH_DISCOUNT if batch else total


#: The table, by model name (see `PRICES_DATE`, `PRICES_SOURCE`).
PRICES: dict[str, Price] = {
    "glm-5": Price(1.00, 0.20, 3.20),
    "glm-5-turbo": Price(1.20, 0.24, 4.00),
    "glm-4.7": Price(0.60, 0.11, 2.20),
    "glm-4.6": Price(0.60, 0.11, 2.20),
    "glm-4.5": Price(0.60, 0.11, 2.20),
    "glm-4.7-flashx": Price(0.07, 0.01, 0.40),
    "glm-4.5-x": Price(2.20, 0.45, 8.90),
    "glm-4.5-air": Price(0.20, 0.03, 1.10),
    "glm-4.5-airx": Price(1.10, 0.22, 4.50),
    "glm-4-32b-0414-128k": Price(0.10, None, 0.10),
    "glm-4.7-flash": Price(0.0, 0.0, 0.0),
    "glm-4.5-flash": Price(0.0, 0.0, 0.0),
}

PriceLike: TypeAlias = "Price | Sequence[float | None] | Mapping[str, float | None]"
_overrides: dict[str, Price] = {}
_warned: set[str] = set()


def as_price(value: PriceLike) -> Price:
    """A `Price` from a `Price`, `(input, cached_input, output)` or a dict with those keys."""
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping):
        value = (value.get("input"), value.get("cached_input"), value.get("output"))
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"a price is (input, cached_input, output) in USD per million tokens, not {value!r}")
    input, cached, output = value
    given = {"input": input, "output": output, **({} if cached is None else {"cached_input": cached})}
    for name, number in given.items():
        if not isinstance(number, (int, float)) or isinstance(number, bool) or number < 0:
            raise ValueError(f"the {name} price must be a number of USD per million tokens, not {number!r}")
    return Price(float(input), None if cached is None else float(cached), float(output))  # type: ignore[arg-type]


def set_prices(prices: Mapping[str, PriceLike] | None) -> None:
    """Prices that take precedence over the table for every result (`%config GLM.prices`);
    None forgets them."""
    _overrides.clear()
    _overrides.update(checked_prices(prices or {}))


def checked_prices(prices: Mapping[str, PriceLike]) -> dict[str, Price]:
    """`prices` as `Price`s by lower-case model name (ValueError for one that is not a price)."""
    return {str(model).lower(): as_price(price) for model, price in prices.items()}


def price_of(model: str | None, prices: Mapping[str, PriceLike] | None = None) -> Price | None:
    """The price of `model`: from `prices` if given there, else the overrides, else the table."""
    if not model:
        return None
    name = model.lower()
    own = next((price for key, price in (prices or {}).items() if key.lower() == name), None)
    if own is not None:
        return as_price(own)
    return _overrides.get(name) or PRICES.get(name)


def cost_of(
    model: str | None,
    usage: Usage | None,
    prices: Mapping[str, PriceLike] | None = None,
    *,
    batch: bool = False,
    warn: bool = True,
) -> float | None:
    """USD for `usage` on `model`; 0 with no usage; None (warned once, unless `warn=False`) for
    an unknown price."""
    if usage is None or not (usage.prompt_tokens or usage.completion_tokens):
        return 0.0
    price = price_of(model, prices)
    if price is None and warn:
        shown = model or "an unnamed model"
        if shown not in _warned:
            _warned.add(shown)
            warnings.warn(
                f"No price is known for {shown!r}, so its cost is None; give one with "
                f"%config GLM.prices = {{{shown!r}: (input, cached_input, output)}} "
                "(USD per million tokens) or prices=.",
                UnknownPriceWarning,
                stacklevel=3,
            )
    return None if price is None else price.cost(usage, batch=batch)


def total_cost(costs: Sequence[float | None] | Any) -> float | None:
    """The sum of `costs`, None when any of them is unknown."""
    total = 0.0
    for cost in costs:
        if cost is None:
            return None
        total += cost
    return total


def format_cost(cost: float | None) -> str:
    """`$1.50`, `$0.012`, `$0.0012`, `$0.000086`, `$0`; `cost ?` for an unknown one."""
    if cost is None:
        return "cost ?"
    if cost == 0:
        return "$0"
    if cost >= 1:
        return f"${cost:,.2f}"
    if cost >= 0.01:
        return f"${cost:.3f}"
    return f"${cost:.{1 - math.floor(math.log10(cost))}f}"  # two significant digits: $0.000086
