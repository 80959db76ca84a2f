"""Deciding a purchase (domain.md §1.2, §1.3, §1.7, §3.1): pure, time and ids are arguments."""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from shared.dates import TERM_MONTHS, period_end
from shared.rejection import CommandRejectedError
from shared.rules.eos import EosRule
from shared.rules.prices import Promo, discounted

from services.subscription.domain.coterm import check_custom_term_end
from services.subscription.domain.lifecycle import RenewalInProgressError

CANCELLATION_WINDOW = timedelta(hours=168)
PERPETUAL_REFUND_WINDOW = timedelta(days=30)  # §1.5: perpetual software is refunded in full within 30 days


def cancellation_window(kind: str) -> timedelta:
    return PERPETUAL_REFUND_WINDOW if kind == "perpetual" else CANCELLATION_WINDOW


class UnknownCustomerError(CommandRejectedError):
    code = "UNKNOWN_CUSTOMER"


UNKNOWN_CUSTOMER = "no such customer; register it with customer.register first"


class UnknownOfferError(CommandRejectedError):
    code = "10001"  # CatalogItemIdIsNotValid (§3.1): no such catalog item, or not sold in the customer's market


class BillingCycleNotOfferedError(CommandRejectedError):
    code = "900270"


class QuantityOutOfRangeError(CommandRejectedError):
    code = "900275"


class NoPriceError(CommandRejectedError):
    code = "NO_PRICE"


class EndOfSaleError(CommandRejectedError):
    code = "10001"  # CatalogItemIdIsNotValid: the offer can no longer be bought


class LegacyOfferError(CommandRejectedError):
    code = "LEGACY_OFFER"


class AddonWithoutBaseError(CommandRejectedError):
    code = "400041"


@dataclass(frozen=True)
class Customer:
    customer_id: str
    partner_id: str
    market: str
    currency: str
    segment: str = "commercial"


@dataclass(frozen=True)
class Offer:
    catalog_item_id: str
    markets: frozenset[str]
    plans: frozenset[tuple[str, str]]
    min_quantity: int
    max_quantity: int
    trial: bool = False
    pooled_max_per_customer: int | None = None
    legacy: bool = False
    kind: str = "license"  # license | software_subscription | perpetual (§1.5)
    addon_prerequisites: frozenset[str] = frozenset()  # PRODUCT:SKU pairs; an add-on has at least one (§1.3)
    segment: str = "commercial"  # the customers it is sold to (§1.7)


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    partner_id: str
    customer_id: str
    catalog_item_id: str
    term_duration: str
    billing_cycle: str
    quantity: int
    auto_renew: bool
    term_start: date
    term_end: date
    cancellation_allowed_until: datetime
    unit_price: Decimal
    currency: str
    market: str
    promotion_id: str | None = None
    effective_unit_price: Decimal | None = None  # the locked price after the promotion; None = unit_price
    billing_currency: str | None = None  # the partner's invoice currency; None = `currency` (the price's)
    anchor: date | None = None  # the day charge cycles count from; None = term_start (a partial child: its parent's)
    full_price_seats: int = 0  # of its seats, those charged unit_price without the promotion (§2.5: added after its
    # window); the sum of its full-price seat batches

    def __post_init__(self) -> None:
        if self.effective_unit_price is None:
            object.__setattr__(self, "effective_unit_price", self.unit_price)
        if self.billing_currency is None:
            object.__setattr__(self, "billing_currency", self.currency)


def term_end(start: date, term_duration: str) -> date:
    """The inclusive last day of a term starting on `start` (P1M: Jan 15 → Feb 14)."""
    return period_end(start, TERM_MONTHS[term_duration])


def check_sold(offer: Offer | None, item: str, market: str, term: str, cycle: str, quantity: int | None = None,
               *, segment: str | None) -> None:
    """What a change into the offer `item` needs of it: sold in `market`, to customers of `segment` (§1.7, as at
    purchase; None: the subscription's own offer, sold to it already), on that term and plan (900270), and, when
    given, for that many seats (900275)."""
    if offer is None or market not in offer.markets:
        raise UnknownOfferError(f"{item} is not sold in {market}")
    if segment is not None and offer.segment != segment:
        raise UnknownOfferError(f"{item} is sold to {offer.segment} customers; this customer is {segment}")
    if (term, cycle) not in offer.plans:
        raise BillingCycleNotOfferedError(f"the offer has no {term} term billed {cycle}")
    if quantity is not None and not offer.min_quantity <= quantity <= offer.max_quantity:
        raise QuantityOutOfRangeError(f"quantity {quantity} is outside {offer.min_quantity}..{offer.max_quantity} "
                                      "for this offer")


def check_base_held(offer: Offer, bases: Sequence[tuple[date, str]], now: datetime) -> None:
    """§1.3, §9.1: an add-on is sold only to a customer holding, at `now`, an active subscription of one of its
    prerequisite PRODUCT:SKUs (any availability; a trial of such a SKU too). `bases` are the (term end, kind) of the
    customer's subscriptions in status active of those SKUs: a suspended one does not count. One whose term has ended
    but whose term end is not handled yet may renew or expire: the partner retries (409), as for a command on it."""
    if not offer.addon_prerequisites:
        return
    if any(kind == "perpetual" or now.date() <= end for end, kind in bases):
        return
    if bases:
        raise RenewalInProgressError("the base subscription's term has ended and its renewal is in progress; retry "
                                     "after 2 minutes")
    raise AddonWithoutBaseError("The addon is not purchasable without a compatible base product")


def purchase(
    *,
    now: datetime,
    subscription_id: str,
    customer: Customer | None,
    offer: Offer | None,
    unit_price: Decimal | None,
    term_duration: str,
    billing_cycle: str,
    quantity: int,
    auto_renew: bool,
    eos: EosRule | None = None,
    promotion: Promo | None = None,
    custom_term_end: date | None = None,
    others: list[tuple[date, str]] | None = None,
    price_currency: str | None = None,
    bases: Sequence[tuple[date, str]] = (),
) -> Subscription:
    """The new subscription; `eos` is the End-of-Sale rule in force for the target plan at `now`, if any; `bases`
    are the customer's active subscriptions of the offer's prerequisites, if it is an add-on (check_base_held)."""
    if customer is None:
        raise UnknownCustomerError(UNKNOWN_CUSTOMER)
    if offer is None or customer.market not in offer.markets:
        raise UnknownOfferError(f"the offer is not sold in market {customer.market}")
    if offer.segment != customer.segment:  # §1.7: education and non-profit offers go to customers qualified so
        raise UnknownOfferError(f"the offer is sold to {offer.segment} customers; this customer is {customer.segment}")
    if offer.legacy:
        raise LegacyOfferError("legacy (non-NCE) offers can't be bought through new commerce")
    if eos is not None:
        raise EndOfSaleError(f"the offer is {eos.state} in {customer.market} since {eos.effective_date}; "
                             "it can no longer be bought")
    if (term_duration, billing_cycle) not in offer.plans:
        raise BillingCycleNotOfferedError(f"the offer has no {term_duration} term billed {billing_cycle}")
    if not offer.min_quantity <= quantity <= offer.max_quantity:
        raise QuantityOutOfRangeError(
            f"quantity {quantity} is outside {offer.min_quantity}..{offer.max_quantity} for this offer"
        )
    check_base_held(offer, bases, now)
    if unit_price is None:
        raise NoPriceError(f"no {customer.currency} price for this offer in {customer.market} on {now.date()}")
    start = now.date()
    end = term_end(start, term_duration)
    if custom_term_end is not None and offer.kind != "license":
        raise CommandRejectedError("a custom term end date is only for license-based subscriptions", "900244")
    if custom_term_end is not None:
        end = check_custom_term_end(wanted=custom_term_end, start=start, standard_end=end, term=term_duration,
                                    trial=offer.trial, others=others or [])
    return Subscription(
        subscription_id=subscription_id,
        partner_id=customer.partner_id,
        customer_id=customer.customer_id,
        catalog_item_id=offer.catalog_item_id,
        term_duration=term_duration,
        billing_cycle=billing_cycle,
        quantity=quantity,
        auto_renew=auto_renew and offer.kind != "perpetual",  # perpetual software never renews (§1.5)
        term_start=start,
        term_end=end,
        cancellation_allowed_until=now + cancellation_window(offer.kind),
        unit_price=unit_price,
        currency=price_currency or customer.currency,
        market=customer.market,
        promotion_id=promotion.promotion_id if promotion else None,
        effective_unit_price=discounted(unit_price, promotion),
        billing_currency=customer.currency,
    )
