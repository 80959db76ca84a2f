"""Custom term end dates at purchase (domain.md §3.7): coterminous with another subscription, or a month end."""
import calendar
from datetime import date

from shared.rejection import CommandRejectedError


class CustomTermEndError(CommandRejectedError):
    code = "900242"


def _month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def check_custom_term_end(
    *, wanted: date, start: date, standard_end: date, term: str, trial: bool, others: list[tuple[date, str]],
) -> date:
    """The first term's end: inside the first term, and a calendar month end or the end of another active
    non-trial subscription of the customer (`others`: (term end, term duration)); P1Y/P3Y never to a P1M end."""
    if trial:
        raise CustomTermEndError("a trial has no custom term end date", "900244")
    if not start <= wanted <= standard_end:
        raise CustomTermEndError(f"{wanted} is outside the first term ({start} to {standard_end})", "900245")
    if term == "P1M" and wanted.day in (28, 29, 30) and not _month_end(wanted):
        raise CustomTermEndError(f"a monthly term can't end on the {wanted.day}th unless that is the month's last day",
                                 "900246")
    coterm_terms = {t for end, t in others if end == wanted}
    if _month_end(wanted) or coterm_terms - ({"P1M"} if term != "P1M" else set()):
        return wanted
    if coterm_terms:
        raise CustomTermEndError("a P1Y or P3Y subscription can't end with a P1M subscription")
    raise CustomTermEndError(f"{wanted} is neither a month end nor the end date of another active subscription")
