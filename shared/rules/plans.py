"""The (term, billing plan) combinations new commerce has (domain.md §1.2): what a catalog offer and a price row may
name. A SKU offers some of them; a billing cycle longer than the term is never one (900270)."""

VALID_PLANS = frozenset({
    ("P1M", "monthly"),
    ("P1Y", "monthly"),
    ("P1Y", "annual"),
    ("P3Y", "monthly"),
    ("P3Y", "annual"),
    ("P3Y", "triennial"),
})
TRIAL_PLAN = ("P1M", "none")  # a trial: one month, never billed (price 0)
ALL_PLANS = VALID_PLANS | {TRIAL_PLAN}  # every (term, billing plan) a price row or promotion may name
