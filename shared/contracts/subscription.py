"""Messages of the subscription area (commands from other systems, events of the subscription service)."""
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from shared.contracts.common import (
    MAX_TERMS_PER_EVENT,
    BillingCycle,
    CatalogItemId,
    Country,
    Currency,
    Data,
    Id,
    Money,
    Quantity,
    TermDuration,
    Text,
)


class RegisterPartner(Data):
    partner_id: Id
    name: Text
    billing_currency: Currency
    country: Country


class PartnerRegistered(RegisterPartner):
    pass


class RegisterCustomer(Data):
    partner_id: Id
    customer_id: Id
    name: Text
    country: Country
    segment: Literal["commercial", "education", "government", "nonprofit"] = "commercial"


class CustomerRegistered(RegisterCustomer):
    pass


# The fixed reads under /subscriptions/ (services/subscription/api.py): a subscription named so could not be read.
RESERVED_SUBSCRIPTION_IDS = frozenset({"summary", "due", "eos-impact"})


def _new_subscription_id(value: str) -> str:
    if value in RESERVED_SUBSCRIPTION_IDS:
        raise ValueError(f"{value!r} is reserved (GET /subscriptions/{value} is another read); choose another id")
    return value


NewSubscriptionId = Annotated[Id, AfterValidator(_new_subscription_id)]


class Purchase(Data):
    customer_id: Id
    catalog_item_id: CatalogItemId
    term_duration: TermDuration
    billing_cycle: BillingCycle
    quantity: Quantity
    auto_renew: bool = True
    custom_term_end_date: date | None = None
    promotion_id: Id | None = None
    subscription_id: NewSubscriptionId | None = None


class SubscriptionTerms(Data):
    """What every subscription event carries so billing and the scheduler need nothing else."""

    subscription_id: Id
    partner_id: Id
    customer_id: Id
    catalog_item_id: CatalogItemId
    term_duration: TermDuration
    billing_cycle: BillingCycle
    term_start: date
    term_end: date
    unit_price: Money
    currency: Currency  # of the price (the price list's row)
    promotion_id: str | None = None
    effective_unit_price: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None = None  # after the promotion
    billing_currency: Currency | None = None  # the partner's invoice currency when it differs from `currency`
    anchor: date | None = None  # the day its charge cycles count from, when not `term_start` (§4.2: a partial
    # upgrade's child shares its parent's cycles)
    full_price_seats: Annotated[int, Field(ge=0)] = 0  # of its seats, those charged `unit_price` without the
    # promotion (§2.5: seats added outside the promotion's window); after the event


class SubscriptionCreated(SubscriptionTerms):
    """subscription.created v1."""

    quantity: Quantity
    auto_renew: bool
    status: Literal["active"] = "active"
    cancellation_allowed_until: datetime
    market: Country


class SubscriptionRenewed(SubscriptionCreated):
    """subscription.renewed v1: the subscription's new term, price and cancellation window."""

    previous_term_end: date


class TermsRenewed(Data):
    """subscription.terms_renewed v1: a customer's subscriptions renewed at one `instant`, each as
    `subscription.renewed` describes a renewal; what one `scheduler.terms_ended` renews. Billing charges them and the
    scheduler times their next terms, each in one transaction. (`subscription.renewed` is still understood; it is no
    longer emitted.)"""

    customer_id: Id
    instant: datetime
    renewals: Annotated[list[SubscriptionRenewed], Field(min_length=1, max_length=MAX_TERMS_PER_EVENT)]


class SubscriptionExpired(Data):
    """subscription.expired v1: the term ended without renewal; it is disabled at `next_step_at` (§3.2)."""

    subscription_id: Id
    partner_id: Id
    customer_id: Id
    term_end: date
    reason: Literal["auto_renew_off", "end_of_life", "trial_not_convertible"] = "auto_renew_off"
    next_step_at: datetime | None = None


class SubscriptionDisabled(Data):
    """subscription.disabled v1: admins only, data retained; deleted at `next_step_at`."""

    subscription_id: Id
    partner_id: Id
    customer_id: Id
    reason: Literal["expired", "suspended_at_term_end"]
    at: datetime
    next_step_at: datetime


class SubscriptionDeleted(Data):
    """subscription.deleted v1: gone for good at the end of its lifecycle."""

    subscription_id: Id
    partner_id: Id
    customer_id: Id
    at: datetime


class ChangeQuantity(Data):
    subscription_id: Id
    quantity: Quantity


class SetAutoRenew(Data):
    subscription_id: Id
    enabled: bool


class SubscriptionCommand(Data):
    """The data of `subscription.cancel`, `subscription.suspend` and `subscription.reactivate`."""

    subscription_id: Id


class SubscriptionFacts(SubscriptionTerms):
    """A mid-term change: the subscription's terms and the instant the change took effect."""

    at: datetime


class QuantityChanged(SubscriptionFacts):
    """subscription.quantity_changed v1: seats added (charged to the end of the cycle) or refunded (in window)."""

    quantity_before: int
    quantity_after: int
    full_price_seats_before: Annotated[int, Field(ge=0)] = 0  # `full_price_seats` before the change


class AutoRenewChanged(SubscriptionFacts):
    """subscription.auto_renew_changed v1."""

    enabled: bool


class SubscriptionCancelled(SubscriptionFacts):
    """subscription.cancelled v1: cancelled inside its window; the unused days are refunded."""

    quantity: int


class SubscriptionSuspended(SubscriptionFacts):
    """subscription.suspended v1: billing continues; auto-renew is off."""


class SubscriptionReactivated(SubscriptionFacts):
    """subscription.reactivated v1."""


class ScheduleChange(Data):
    """subscription.schedule_change v1: what the next term should be; unset fields keep the current value."""

    subscription_id: Id
    catalog_item_id: CatalogItemId | None = None
    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None
    quantity: Quantity | None = None
    custom_term_end_date: date | None = None


class NextTerm(Data):
    catalog_item_id: CatalogItemId
    term_duration: TermDuration
    billing_cycle: BillingCycle
    quantity: Quantity
    submitted_at: datetime
    custom_term_end_date: date | None = None


class ChangeScheduled(SubscriptionFacts):
    """subscription.change_scheduled v1."""

    scheduled_change: NextTerm


class ScheduledChangeCancelled(SubscriptionFacts):
    """subscription.scheduled_change_cancelled v1: by request, by a mid-term change, or dropped at renewal (its target
    reached EndOfLife, has no price for it, or its seats no longer fit the customer's pooled maximum)."""

    reason: Literal["requested", "quantity_changed", "auto_renew_off", "cancelled", "suspended", "end_of_life",
                    "transitioned", "term_changed", "trial_converted", "no_price", "pooled_limit"]


class Transition(Data):
    """subscription.transition v1."""

    subscription_id: Id
    target_catalog_item_id: CatalogItemId
    quantity: Quantity
    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None
    target_subscription_id: Id | None = None
    when: Literal["immediate", "at_renewal"] = "immediate"


class Transitioned(SubscriptionFacts):
    """subscription.transitioned v1: seats moved to an upgraded offer now (billing: convert / moveQuantity).

    The facts are the source after the move; `target` is the subscription holding the moved seats (the source
    itself for a full upgrade, a new coterminous child for a partial one, or an existing subscription)."""

    kind: Literal["full", "partial", "existing"]
    quantity_before: int
    quantity_after: int
    moved: int
    target: SubscriptionTerms
    target_quantity_after: int


class ChangeTerm(Data):
    """subscription.change_term v1: to a longer term now (mid-term)."""

    subscription_id: Id
    term_duration: TermDuration
    billing_cycle: BillingCycle


class TermChanged(SubscriptionFacts):
    """subscription.term_changed v1: a new, longer term from today; the old term's unused days are credited."""

    quantity: int
    previous: SubscriptionTerms


class TrialConverted(SubscriptionFacts):
    """subscription.trial_converted v1: the trial became the paid subscription described by the facts."""

    quantity: int
    trial: SubscriptionTerms


class ConvertTrial(Data):
    """subscription.convert_trial v1: now (into a new paid term or an existing subscription) or at trial end."""

    subscription_id: Id
    catalog_item_id: CatalogItemId | None = None
    quantity: Quantity
    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None
    target_subscription_id: Id | None = None
    when: Literal["immediate", "at_renewal"] = "immediate"
