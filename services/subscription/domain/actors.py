"""Who may act for whom, and in which role."""
from shared.contracts.envelope import Actor
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


def check_acts_for(actor: Actor | None, partner_id: str, command: str,
                   hidden: CommandRejectedError | None = None) -> None:
    """A platform operator acts for anyone; a partner only for its own customers, within its roles. Where the
    partner is that of a stored customer or subscription the command names, `hidden` is the command's rejection for
    an unknown one: another partner's ids answer as unknown, so a rejection never tells they exist (as the HTTP
    reads answer 404)."""
    actor = actor or Actor()
    if actor.is_operator:
        return
    if actor.partner_id != partner_id:
        raise hidden or ForbiddenError(f"the actor may not act for partner {partner_id}")
    roles = actor.roles
    for role in roles:
        allowed = ROLE_COMMANDS.get(role, set())
        if allowed is None or command in allowed:
            return
    raise ForbiddenError(f"roles {', '.join(roles) or '(none)'} may not send {command}")
