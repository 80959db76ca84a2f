"""The Partner Center NCE license-based price list (domain.md §2.2): its columns and the values they take.

The rows themselves are parsed and checked by PostgreSQL during the import (services/pricing/importer.py).
"""

COLUMNS = (
    "ProductTitle", "ProductId", "SkuId", "SkuTitle", "Publisher", "SkuDescription", "UnitOfMeasure", "TermDuration",
    "BillingPlan", "Market", "Currency", "UnitPrice", "PricingTierRangeMin", "PricingTierRangeMax",
    "EffectiveStartDate", "EffectiveEndDate", "Tags", "ERP Price",
)
OPTIONAL = ("EndofSaleDate", "Segment")
REQUIRED = ("ProductId", "SkuId", "TermDuration", "BillingPlan", "Market", "Currency", "UnitPrice",
            "EffectiveStartDate", "EffectiveEndDate")
TERMS = ("P1M", "P1Y", "P3Y")
PLANS = ("monthly", "annual", "triennial", "none")


class RowError(ValueError):
    """What is wrong with the file, in words a person fixing it understands."""


def header_index(header: list[str]) -> dict[str, int]:
    index = {name.strip().lstrip("\ufeff"): i for i, name in enumerate(header)}
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        raise RowError(f"the header lacks {', '.join(missing)}; expected the Partner Center columns {', '.join(COLUMNS)}")
    return index
