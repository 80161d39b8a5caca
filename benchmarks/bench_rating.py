"""Rating throughput: one million quantities through a 3-tier graduated rule.

Set-up: the seed's bandwidth tiers (0-100 GB free, 100-1000 GB at 0.05, above at 0.03), one
million pre-generated quantities spread over all three tiers, with up to three decimal places.
Each run rates every quantity through the public registry (`charge_amount`: exact amount, no
breakdown; `charge`: with the per-tier breakdown) and rounds it to cents with `round_money`.
Prints quantities per second, the median of 5 runs. Not a test: nothing here asserts a time.

    uv run python benchmarks/bench_rating.py [--count 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from billing.catalog import TieredUsageComponent
from billing.charge_models import charge, charge_amount
from billing.money import round_money

COMPONENT = TieredUsageComponent.model_validate(
    {
        "meter_id": "bandwidth_egress",
        "tiers": [
            {"up_to": 100, "unit_price": "0"},
            {"up_to": 1000, "unit_price": "0.05"},
            {"up_to": None, "unit_price": "0.03"},
        ],
    }
)


def quantities(count: int, seed: int = 3) -> list[Decimal]:
    """`count` quantities in 0..5000 with up to 3 decimals, so all three tiers are hit."""
    rng = random.Random(seed)
    return [Decimal(rng.randrange(0, 5_000_000)).scaleb(-3) for _ in range(count)]


def rate_amounts(values: list[Decimal]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total += round_money(charge_amount(COMPONENT, value), "EUR")
    return total


def rate_with_breakdown(values: list[Decimal]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total += round_money(charge(COMPONENT, value).amount, "EUR")
    return total


def measure(
    label: str, rate: Callable[[list[Decimal]], Decimal], values: list[Decimal], runs: int
) -> None:
    rates: list[float] = []
    checksum = Decimal(0)
    for _ in range(runs):
        started = time.perf_counter()
        checksum = rate(values)
        rates.append(len(values) / (time.perf_counter() - started))
    print(
        f"{label}: median {statistics.median(rates):,.0f} quantities/s over {runs} runs "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}; checksum {checksum})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-breakdown", action="store_true")
    args = parser.parse_args()
    values = quantities(args.count)
    print(f"{args.count:,} quantities, 3-tier graduated rule, rounded to cents")
    measure("amount (charge_amount)", rate_amounts, values, args.runs)
    if not args.skip_breakdown:
        measure("with tier breakdown (charge)", rate_with_breakdown, values, args.runs)


if __name__ == "__main__":
    main()
