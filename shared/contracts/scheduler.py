"""Messages of the scheduler: time turned into events (the instant each stands for is in the data)."""
from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from shared.contracts.catalog import EosScope, EosState
from shared.contracts.common import MAX_TERMS_PER_EVENT, Data, Id


class TermEnded(Data):
    """scheduler.term_ended v1: a term ended; `instant` is 00:00:00Z the day after the inclusive end."""

    subscription_id: Id
    customer_id: Id
    term_end: date
    instant: AwareDatetime


class TermEnd(Data):
    """One of the terms in a `scheduler.terms_ended`."""

    subscription_id: Id
    term_end: date


class TermsEnded(Data):
    """scheduler.terms_ended v1: a customer's terms that ended at one `instant` (00:00:00Z the day after their
    inclusive end), up to MAX_TERMS_PER_EVENT of them: what the scheduler fires for term-end timers. The subscription
    service handles them in one transaction. (`scheduler.term_ended`, one term, is still understood; it is no longer
    emitted.)"""

    customer_id: Id
    instant: AwareDatetime
    terms: Annotated[list[TermEnd], Field(min_length=1, max_length=MAX_TERMS_PER_EVENT)]


class EosDateReached(EosScope):
    """scheduler.eos_date_reached v1: an End-of-Sale state took effect at `instant` (00:00Z of its date)."""

    state: EosState
    effective_date: date
    instant: AwareDatetime




class LifecycleStepDue(Data):
    """scheduler.lifecycle_step_due v1: an expired or disabled subscription's next step (§3.2) fell due."""

    subscription_id: Id
    customer_id: Id
    step: Literal["disabled", "deleted"]
    instant: AwareDatetime


class ChargeCycleStarted(Data):
    """scheduler.charge_cycle_started v1: a charge cycle after a term's first began (billing: `cycleCharge`)."""

    subscription_id: Id
    customer_id: Id
    cycle_start: date
    term_end: date
    instant: AwareDatetime


class MonthEnded(Data):
    """scheduler.month_ended v1: a calendar month (UTC) ended at `instant` (billing closes its invoices)."""

    month: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    instant: AwareDatetime

