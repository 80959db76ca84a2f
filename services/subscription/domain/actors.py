"""Who may act for whom."""
from shared.rejection import CommandRejectedError

OPERATOR_ROLES = {"GlobalAdmin"}


class ForbiddenError(CommandRejectedError):
    code = "FORBIDDEN"


def check_acts_for(actor_partner_id: str | None, roles: list[str], partner_id: str) -> None:
    """A partner acts only for its own customers; a platform operator acts for anyone."""
    if OPERATOR_ROLES & set(roles):
        return
    if actor_partner_id != partner_id:
        raise ForbiddenError(f"the actor may not act for partner {partner_id}")
