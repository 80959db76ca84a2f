"""The message registry: every (type, version) of the contract, its topic and its data model."""
from dataclasses import dataclass

from pydantic import BaseModel

from shared.contracts import billing, catalog, common, pricing, scheduler, subscription
from shared.contracts.topics import (
    BILLING_EVENTS,
    CATALOG_COMMANDS,
    CATALOG_EVENTS,
    PRICING_COMMANDS,
    PRICING_EVENTS,
    SUBSCRIPTION_COMMANDS,
    SCHEDULER_EVENTS,
    SUBSCRIPTION_EVENTS,
    Topic,
)


@dataclass(frozen=True)
class MessageSpec:
    type: str
    version: int
    topic: Topic
    model: type[BaseModel]


def _specs(topic: Topic, version: int, **types: type[BaseModel]) -> list[MessageSpec]:
    return [MessageSpec(name.replace("__", "."), version, topic, model) for name, model in types.items()]


_ALL = [
    *_specs(CATALOG_COMMANDS, 1, catalog__publish_offer=catalog.PublishOffer, catalog__set_eos=catalog.SetEos),
    *_specs(
        CATALOG_EVENTS,
        1,
        catalog__offer_published=catalog.OfferPublished,
        catalog__eos_changed=catalog.EosChanged,
        catalog__command_rejected=common.CommandRejected,
    ),
    *_specs(PRICING_COMMANDS, 1, pricing__set_price=pricing.SetPrice),
    *_specs(
        PRICING_EVENTS,
        1,
        pricing__prices_published=pricing.PricesPublished,
        pricing__eos_date_found=pricing.EosDateFound,
        pricing__promotion_published=pricing.PromotionPublished,
        pricing__fx_rates_published=pricing.FxRatesPublished,
        pricing__command_rejected=common.CommandRejected,
    ),
    *_specs(
        SUBSCRIPTION_COMMANDS,
        1,
        partner__register=subscription.RegisterPartner,
        customer__register=subscription.RegisterCustomer,
        subscription__purchase=subscription.Purchase,
        subscription__change_quantity=subscription.ChangeQuantity,
        subscription__set_auto_renew=subscription.SetAutoRenew,
        subscription__cancel=subscription.SubscriptionCommand,
        subscription__suspend=subscription.SubscriptionCommand,
        subscription__reactivate=subscription.SubscriptionCommand,
        subscription__schedule_change=subscription.ScheduleChange,
        subscription__cancel_scheduled_change=subscription.SubscriptionCommand,
        subscription__transition=subscription.Transition,
        subscription__change_term=subscription.ChangeTerm,
        subscription__convert_trial=subscription.ConvertTrial,
    ),
    *_specs(
        SUBSCRIPTION_EVENTS,
        1,
        partner__registered=subscription.PartnerRegistered,
        customer__registered=subscription.CustomerRegistered,
        subscription__created=subscription.SubscriptionCreated,
        subscription__renewed=subscription.SubscriptionRenewed,
        subscription__terms_renewed=subscription.TermsRenewed,
        subscription__expired=subscription.SubscriptionExpired,
        subscription__quantity_changed=subscription.QuantityChanged,
        subscription__auto_renew_changed=subscription.AutoRenewChanged,
        subscription__cancelled=subscription.SubscriptionCancelled,
        subscription__suspended=subscription.SubscriptionSuspended,
        subscription__reactivated=subscription.SubscriptionReactivated,
        subscription__change_scheduled=subscription.ChangeScheduled,
        subscription__scheduled_change_cancelled=subscription.ScheduledChangeCancelled,
        subscription__transitioned=subscription.Transitioned,
        subscription__term_changed=subscription.TermChanged,
        subscription__disabled=subscription.SubscriptionDisabled,
        subscription__deleted=subscription.SubscriptionDeleted,
        subscription__trial_converted=subscription.TrialConverted,
        subscription__command_rejected=common.CommandRejected,
    ),
    *_specs(
        SCHEDULER_EVENTS, 1, scheduler__term_ended=scheduler.TermEnded, scheduler__terms_ended=scheduler.TermsEnded,
        scheduler__eos_date_reached=scheduler.EosDateReached,
        scheduler__lifecycle_step_due=scheduler.LifecycleStepDue,
        scheduler__charge_cycle_started=scheduler.ChargeCycleStarted,
        scheduler__month_ended=scheduler.MonthEnded,
    ),
    *_specs(BILLING_EVENTS, 1, billing__charge_created=billing.ChargeCreated,
            billing__invoice_issued=billing.InvoiceIssued),
]

REGISTRY: dict[tuple[str, int], MessageSpec] = {(s.type, s.version): s for s in _ALL}


def spec_for(type_: str, version: int) -> MessageSpec | None:
    return REGISTRY.get((type_, version))


_LATEST: dict[str, MessageSpec] = {}
for _spec in sorted(_ALL, key=lambda s: s.version):
    _LATEST[_spec.type] = _spec


def latest(type_: str) -> MessageSpec:
    """The newest version of a message type (what producers publish)."""
    try:
        return _LATEST[type_]
    except KeyError:
        raise KeyError(f"unknown message type {type_!r}") from None
