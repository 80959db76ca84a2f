"""Who may act for whom, and in which role."""
from shared.contracts.envelope import OPERATOR_ROLE
from shared.rejection import CommandRejectedError

# What each partner role may do with the subscription commands (domain issue 4: authorization).
ROLE_COMMANDS: dict[str, set[str] | None] = {
    "AdminAgent": None,  # everything
    "SalesAgent": None,
    "HelpdeskAgent": {"subscription.suspend", "subscription.reactivate"},
    "BillingAdmin": set(),
}


class ForbiddenError(CommandRejectedError):
    code = "FORBIDDEN"


def check_acts_for(actor_partner_id: str | None, roles: list[str], partner_id: str, command: str) -> None:
    """A platform operator acts for anyone; a partner only for its own customers, within its roles."""
    if OPERATOR_ROLE in roles:
        return
    if actor_partner_id != partner_id:
        raise ForbiddenError(f"the actor may not act for partner {partner_id}")
    for role in roles:
        allowed = ROLE_COMMANDS.get(role, set())
        if allowed is None or command in allowed:
            return
    raise ForbiddenError(f"roles {', '.join(roles) or '(none)'} may not send {command}")
