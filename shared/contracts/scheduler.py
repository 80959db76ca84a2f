"""Messages of the scheduler: time turned into events (the instant each stands for is in the data)."""
from datetime import date

from typing import Literal

from pydantic import AwareDatetime

from shared.contracts.catalog import EosScope, EosState
from shared.contracts.common import Data, Id


class TermEnded(Data):
    """scheduler.term_ended v1: a term ended; `instant` is 00:00:00Z the day after the inclusive end."""

    subscription_id: Id
    customer_id: Id
    term_end: date
    instant: AwareDatetime


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
