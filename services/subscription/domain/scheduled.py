"""Scheduled next-term changes (domain.md §3.6, §3.7, §5.2 rows 10, 11, 13, 14, §9.4, §9.10): pure."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule

from services.subscription.domain.coterm import check_custom_term_end
from services.subscription.domain.purchase import Offer, Subscription, check_sold, term_end


class NotEligibleForAutoRenewError(CommandRejectedError):
    code = "800093"


class NotAnUpgradeError(CommandRejectedError):
    code = "900260"


class TargetEndOfSaleError(CommandRejectedError):
    code = "10001"


@dataclass(frozen=True)
class NextTerm:
    catalog_item_id: str
    term_duration: str
    billing_cycle: str
    quantity: int
    submitted_at: datetime
    custom_term_end_date: date | None = None  # the next term's end, when not the standard one (§3.7)


def _product_sku(catalog_item_id: str) -> str:
    return catalog_item_id.rsplit(":", 1)[0]


def schedule(
    *, sub: Subscription, status: str, upgrade_targets: list[str], target: Offer | None,
    wanted: NextTerm, eos: EosRule | None, trial: bool = False, others: list[tuple[date, str]] | None = None,
    kind: str = "license", segment: str,
) -> NextTerm:
    """Validate a next-term change at its submission instant; `eos` is the rule in force for the target plan then;
    `segment` is the customer's (§1.7: another offer must be sold to it).

    A custom end date (§3.7) must fall inside the next term and be a month end or the end of another of the
    customer's active subscriptions (`others`: their (term end, term duration)).
    """
    if status != "active" or not sub.auto_renew:
        raise NotEligibleForAutoRenewError("a change can be scheduled only on an active subscription with auto-renew on")
    if wanted.custom_term_end_date is not None and kind != "license":
        raise CommandRejectedError("a custom term end date is only for license-based subscriptions", "900244")
    if wanted.custom_term_end_date is not None:
        start = sub.term_end + timedelta(days=1)
        check_custom_term_end(wanted=wanted.custom_term_end_date, start=start,
                              standard_end=term_end(start, wanted.term_duration), term=wanted.term_duration,
                              trial=trial, others=others or [])
    same_sku = _product_sku(wanted.catalog_item_id) == _product_sku(sub.catalog_item_id)
    if not same_sku and _product_sku(wanted.catalog_item_id) not in upgrade_targets:
        raise NotAnUpgradeError(f"{wanted.catalog_item_id} is not an upgrade target of {sub.catalog_item_id}; "
                                "downgrades are not supported")
    check_sold(target, wanted.catalog_item_id, sub.market, wanted.term_duration, wanted.billing_cycle, wanted.quantity,
               segment=None if wanted.catalog_item_id == sub.catalog_item_id else segment)
    if eos is not None:
        # §9.4: never a new term duration into EOS/EOSwC; into EOSwC a SKU change is fine; on EOS only the same SKU
        # (a billing-frequency or quantity change) and not for a software subscription (row 16); nothing into
        # EndOfLife.
        same_term = wanted.term_duration == sub.term_duration
        allowed = same_term and (eos.state == "EndOfSaleWithConversions" or eos.state == "EndOfSale" and same_sku
                                 and kind != "software_subscription")
        if not allowed:
            raise TargetEndOfSaleError(f"the target plan is {eos.state} since {eos.effective_date}; it can't be "
                                       "scheduled into")
    return wanted
