"""After the term (domain.md §3.2): expired 30 days → disabled 90 days → deleted; suspended at term end →
disabled (30 days for admins, then the 90 days) → deleted. Pure: day counts and next states."""
from datetime import date, datetime, timedelta

from shared.rejection import CommandRejectedError

EXPIRED_FOR = timedelta(days=30)
DISABLED_FOR = timedelta(days=90)
DISABLED_AFTER_SUSPENSION_FOR = timedelta(days=30) + DISABLED_FOR


class RenewalInProgressError(CommandRejectedError):
    code = "409"


def check_term_not_ending(status: str, kind: str, term_start: date, term_end: date, now: datetime) -> None:
    """§3.5, §6: from 00:00Z after its term's last day until the scheduler's term end is handled (a renewal, expiry,
    trial conversion or disabling, within seconds), a subscription takes no command: the partner retries.

    Nor does a command stamped before the term it finds began (§9.13: rules apply at the stamp): one received at
    23:59:59 that reaches the subscription after its renewal (another instance renewed it meanwhile) would act on
    a term it was not sent for, e.g. cancel the new term inside a window it was never in. Retried, it gets a new
    stamp."""
    if status in ("active", "suspended") and kind != "perpetual" and now.date() > term_end:
        raise RenewalInProgressError(f"the term ended on {term_end} and its renewal is in progress; retry after 2 "
                                     "minutes")
    if now.date() < term_start:
        raise RenewalInProgressError(f"the command was received at {now.isoformat()}, before the subscription's "
                                     f"current term began on {term_start}; retry")


def at_term_end(status: str, auto_renew: bool, end_of_life: bool) -> str | None:
    """The status a term end leads to; None means the subscription renews."""
    if status == "suspended":
        return "disabled"
    if status != "active":
        return status
    return "expired" if not auto_renew or end_of_life else None


def next_step(status: str, since: datetime, suspended_at_term_end: bool = False) -> tuple[str, datetime] | None:
    """When the subscription moves on from `status` (entered at `since`), and to what."""
    if status == "expired":
        return "disabled", since + EXPIRED_FOR
    if status == "disabled":
        return "deleted", since + (DISABLED_AFTER_SUSPENSION_FOR if suspended_at_term_end else DISABLED_FOR)
    return None
