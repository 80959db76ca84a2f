"""End-of-Sale state of an offer at an instant (domain.md §5.1): the most specific effective rule wins."""
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from shared.dates import start_of_day

ACTIVE = "Active"
BLOCKS_PURCHASE = {"EndOfSale", "EndOfSaleWithConversions", "EndOfLife"}


@dataclass(frozen=True)
class EosRule:
    product_id: str
    sku_id: str | None
    market: str | None
    term_duration: str | None
    billing_cycle: str | None
    state: str
    effective_date: date

    def covers(self, product_id: str, sku_id: str, market: str, term: str | None, cycle: str | None) -> bool:
        """Whether the rule's scope includes the offer; an unset field matches anything, a set one must equal."""
        wanted = (product_id, sku_id, market, term, cycle)
        scope = (self.product_id, self.sku_id, self.market, self.term_duration, self.billing_cycle)
        return all(s is None or s == w for s, w in zip(scope, wanted, strict=True))

    @property
    def specificity(self) -> tuple[int, ...]:
        """More narrowing fields is more specific; on a tie SKU beats market beats term beats billing plan."""
        fields = (self.sku_id, self.market, self.term_duration, self.billing_cycle)
        return (sum(f is not None for f in fields), *(f is not None for f in fields))


def eos_state(
    rules: Iterable[EosRule], product_id: str, sku_id: str, market: str, term: str | None, cycle: str | None,
    at: datetime,
) -> EosRule | None:
    """The rule in force for the offer at `at` (its date counts from 00:00Z), or None when it is Active.

    EndOfLife ends the offer's life (§5.1, §9.10): once in effect it holds over any End-of-Sale rule, however narrow
    (the price list's End-of-Sale dates are per plan, an operator's EndOfLife is usually per product or SKU); only an
    explicit Active rule narrower than it brings a scope back. Otherwise the most specific rule in effect wins."""
    effective = [r for r in rules if r.covers(product_id, sku_id, market, term, cycle) and start_of_day(r.effective_date) <= at]
    if not effective:
        return None
    life = [r for r in effective if r.state in ("EndOfLife", ACTIVE)]
    if life and (ended := max(life, key=lambda r: (r.specificity, r.state == "EndOfLife"))).state == "EndOfLife":
        return ended
    winner = max(effective, key=lambda r: (r.specificity, r.effective_date))
    return None if winner.state == ACTIVE else winner
