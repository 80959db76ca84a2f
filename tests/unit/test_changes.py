"""Mid-term change rules (domain.md §3.2–§3.4): seat batches, windows to the second, suspension, roles."""
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.subscription.domain import changes
from services.subscription.domain.actors import check_acts_for
from services.subscription.domain.changes import Batch
from shared.contracts.envelope import Actor
from shared.rejection import CommandRejectedError
from shared.rules.prices import Promo

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)


def change(batches: list[Batch], new: int, now: datetime, **kw: object) -> list[Batch]:
    args = dict(status="active", trial=False, quantity=sum(b.quantity for b in batches), batches=batches,
                new_quantity=new, now=now, min_quantity=1, max_quantity=300, pooled_room=None)
    return changes.change_quantity(**{**args, **kw})  # type: ignore[arg-type]


def promo(**changes: object) -> Promo:
    held = Promo("PROMO:0001:X", "PROMO", "0001", "P1Y", "annual", frozenset({"US"}), Decimal("0.1"), date(2025, 1, 1),
                 date(2025, 12, 31), 1, 300, 1, True)
    return replace(held, **changes)  # type: ignore[arg-type]


def code(fn, *args, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandRejectedError) as e:
        fn(*args, **kw)
    return e.value.code


def test_a_decrease_gives_back_the_newest_refundable_seats_first() -> None:
    seats = change(changes.opened(10, T0), 15, T0 + 100 * H)
    assert seats == [Batch(10, T0 + 168 * H), Batch(5, T0 + 268 * H)]
    assert change(seats, 12, T0 + 100 * H) == [Batch(10, T0 + 168 * H), Batch(2, T0 + 268 * H)]


def test_the_168_hour_window_is_inclusive_to_the_second() -> None:
    seats = changes.opened(10, T0)
    assert change(seats, 9, T0 + 168 * H) == [Batch(9, T0 + 168 * H)]
    assert code(change, seats, 9, T0 + 168 * H + timedelta(seconds=1)) == "800090"
    assert changes.cancel("active", T0 + 168 * H, T0 + 168 * H) == "deleted"
    assert code(changes.cancel, "active", T0 + 168 * H, T0 + 168 * H + timedelta(seconds=1)) == "900117"


@pytest.mark.parametrize("kw, expected", [
    ({"status": "suspended"}, "800091"),
    ({"status": "expired"}, "900277"),  # §6: subscription being expired
    ({"trial": True}, "TRIAL_NOT_CHANGEABLE"),
    ({"max_quantity": 11}, "900275"),
    ({"pooled_room": 1}, "800088"),
    ({"promotion": promo(max_quantity=11)}, "900275"),  # §2.5: a held promotion's maximum, inside its window
    ({"promotion": promo(max_quantity=20), "promoted_elsewhere": 9}, "900275"),  # counted across the customer's
])
def test_an_increase_is_refused_when_a_rule_says_so(kw: dict[str, object], expected: str) -> None:
    assert code(change, changes.opened(10, T0), 12, T0, **kw) == expected


def test_a_held_promotions_maximum_leaves_room_for_the_seats_elsewhere() -> None:
    assert change(changes.opened(10, T0), 12, T0, promotion=promo(max_quantity=20), promoted_elsewhere=8)[-1] == \
        Batch(2, T0 + 168 * H)


def test_seats_added_after_the_promotions_window_are_full_price_and_given_back_first_section_2_5() -> None:
    held = promo(max_quantity=11, end_date=(T0 + 48 * H).date())
    inside = change(changes.opened(10, T0), 11, T0 + 48 * H, promotion=held)  # its last day
    assert inside[-1] == Batch(1, T0 + 216 * H) and changes.full_price_seats(inside) == 0
    after = change(inside, 15, T0 + 72 * H, promotion=held)  # past its maximum: it no longer applies
    assert after[-1] == Batch(4, T0 + 240 * H, full_price=True) and changes.full_price_seats(after) == 4
    assert changes.full_price_seats(change(after, 12, T0 + 72 * H, promotion=held)) == 1  # newest first
    assert changes.full_price_seats(change(changes.opened(10, T0), 15, T0 + 72 * H)) == 0  # no promotion held


def test_a_trials_status_never_changes_section_1_4() -> None:
    assert code(changes.suspend, "active", trial=True) == "TRIAL_NOT_CHANGEABLE"
    assert code(changes.cancel, "active", T0 + 168 * H, T0, trial=True) == "TRIAL_NOT_CHANGEABLE"
    assert changes.cancel("active", T0 + 168 * H, T0) == "deleted"  # the same, not a trial


def test_only_an_active_subscription_is_suspended_and_only_before_term_end_reactivated() -> None:
    assert changes.suspend("active") == "suspended"
    assert code(changes.suspend, "suspended") == "SUBSCRIPTION_NOT_ACTIVE"
    end = T0 + 365 * 24 * H
    assert changes.reactivate("suspended", end, end - timedelta(seconds=1)) == "active"
    assert code(changes.reactivate, "suspended", end, end) == "SUBSCRIPTION_NOT_ACTIVE"


@pytest.mark.parametrize("roles, command, allowed", [
    (["AdminAgent"], "subscription.cancel", True),
    (["SalesAgent"], "subscription.change_quantity", True),
    (["HelpdeskAgent"], "subscription.suspend", True),
    (["HelpdeskAgent"], "subscription.cancel", False),
    (["BillingAdmin"], "subscription.reactivate", False),
    ([], "subscription.suspend", False),
])
def test_partner_roles(roles: list[str], command: str, allowed: bool) -> None:
    actor = Actor(partner_id="P1", roles=roles)
    if allowed:
        check_acts_for(actor, "P1", command)
    else:
        assert code(check_acts_for, actor, "P1", command) == "FORBIDDEN"


def test_a_partner_never_acts_for_another_partners_customers_but_an_operator_may() -> None:
    p2 = Actor(partner_id="P2", roles=["AdminAgent"])
    assert code(check_acts_for, p2, "P1", "subscription.cancel") == "FORBIDDEN"
    unknown = CommandRejectedError("no subscription S1", "UNKNOWN_SUBSCRIPTION")
    with pytest.raises(CommandRejectedError) as hidden:  # a stored entity of P1's answers P2 as unknown
        check_acts_for(p2, "P1", "subscription.cancel", unknown)
    assert hidden.value is unknown
    check_acts_for(Actor(partner_id=None, roles=["GlobalAdmin"]), "P1", "subscription.cancel")
    posing = Actor(partner_id="P2", roles=["AdminAgent", "GlobalAdmin"])  # the operator's role, but P2's actor
    assert code(check_acts_for, posing, "P1", "subscription.cancel") == "FORBIDDEN"
    assert code(check_acts_for, None, "P1", "subscription.cancel") == "FORBIDDEN"  # no actor at all


def test_a_software_subscription_gives_no_seats_back_and_perpetual_seats_are_refundable_for_30_days() -> None:
    assert code(change, changes.opened(10, T0), 9, T0 + H, kind="software_subscription") == "800090"
    assert change(changes.opened(10, T0), 12, T0, kind="perpetual")[-1] == Batch(2, T0 + timedelta(days=30))
    assert code(changes.set_auto_renew, "active", True, "perpetual") == "800093"
    changes.set_auto_renew("active", False, "perpetual")


def test_seats_an_upgrade_moves_in_take_the_targets_promotion_up_to_its_maximum_section_2_5() -> None:
    held = promo(max_quantity=20)
    assert changes.joining(10, T0, held, promoted=15) == [Batch(5, T0), Batch(5, T0, full_price=True)]
    assert changes.joining(10, T0, held, promoted=5) == [Batch(10, T0)]
    assert changes.joining(10, T0, held, promoted=25) == [Batch(10, T0, full_price=True)]
    assert changes.joining(10, T0, promo(end_date=date(2025, 2, 1)), promoted=0) == [Batch(10, T0, full_price=True)]
    assert changes.joining(10, T0, None, promoted=0) == [Batch(10, T0)]
