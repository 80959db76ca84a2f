"""Reading one row of a Partner Center NCE license-based price list (domain.md §2.2): validate, normalise.

Hand-written rather than a pydantic model per row: a 200,000-row file must stream at close to COPY speed.
"""
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import NamedTuple

COLUMNS = (
    "ProductTitle", "ProductId", "SkuId", "SkuTitle", "Publisher", "SkuDescription", "UnitOfMeasure", "TermDuration",
    "BillingPlan", "Market", "Currency", "UnitPrice", "PricingTierRangeMin", "PricingTierRangeMax",
    "EffectiveStartDate", "EffectiveEndDate", "Tags", "ERP Price",
)
OPTIONAL = ("EndofSaleDate", "Segment")
REQUIRED = ("ProductId", "SkuId", "TermDuration", "BillingPlan", "Market", "Currency", "UnitPrice",
            "EffectiveStartDate", "EffectiveEndDate")
TERMS = {"P1M", "P1Y", "P3Y"}
PLANS = {"monthly": "monthly", "annual": "annual", "triennial": "triennial", "none": "none"}
MAX_PRICE = Decimal("1000000000")
_PRODUCT = re.compile(r"[A-Z0-9]{12}")
_SKU = re.compile(r"[A-Z0-9]{1,4}")
_MARKET = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?(?: ?[AP]M)?)?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+Z?)?")


class RowError(ValueError):
    """What is wrong with one row, in words a person fixing the file understands."""


class Row(NamedTuple):
    product_id: str
    sku_id: str
    market: str
    currency: str
    term_duration: str
    billing_cycle: str
    tier_min: int
    tier_max: int
    effective_start: date
    effective_end: date
    unit_price: Decimal
    erp_price: Decimal | None
    tags: list[str]
    end_of_sale_date: date | None
    segment: str
    product_title: str
    sku_title: str

    @property
    def eos_state(self) -> str:
        return "EndOfSaleWithConversions" if "EndOfSaleWithConversions" in self.tags else "EndOfSale"


def header_index(header: list[str]) -> dict[str, int]:
    index = {name.strip().lstrip("\ufeff"): i for i, name in enumerate(header)}
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        raise RowError(f"the header lacks {', '.join(missing)}; expected the Partner Center columns {', '.join(COLUMNS)}")
    return index


@lru_cache(maxsize=4096)
def parse_date(text: str) -> date:
    """M/D/YYYY (with an optional time) or ISO 8601; 1753 and 9999 are the open-range placeholders."""
    text = text.strip()
    if m := _US_DATE.fullmatch(text):
        month, day, year = int(m[1]), int(m[2]), int(m[3])
    elif m := _ISO_DATE.fullmatch(text):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    else:
        raise RowError(f"{text!r} is not a date (M/D/YYYY or YYYY-MM-DD)")
    try:
        return date(year, month, day)
    except ValueError as e:
        raise RowError(f"{text!r} is not a calendar date: {e}") from None


def _money(text: str, column: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise RowError(f"{column} {text!r} is not a number") from None
    if not value.is_finite() or value < 0 or value >= MAX_PRICE or value.as_tuple().exponent < -6:  # type: ignore[operator]
        raise RowError(f"{column} {text!r} must be between 0 and {MAX_PRICE} with at most 6 decimals")
    return value


def _int(text: str, column: str, default: int) -> int:
    text = text.strip()
    if not text:
        return default
    if not text.isdigit() or len(text) > 10:
        raise RowError(f"{column} {text!r} is not a whole number")
    return int(text)


def parse_row(values: list[str], index: dict[str, int], market: str) -> Row:
    def get(column: str) -> str:
        i = index.get(column)
        return values[i].strip() if i is not None and i < len(values) else ""

    if len(values) < len(index) - len(OPTIONAL):
        raise RowError(f"{len(values)} fields, expected {len(index)}")
    product_id, sku = get("ProductId"), get("SkuId")
    if not _PRODUCT.fullmatch(product_id):
        raise RowError(f"ProductId {product_id!r} is not 12 upper-case letters or digits")
    if not _SKU.fullmatch(sku):
        raise RowError(f"SkuId {sku!r} is not 1-4 upper-case letters or digits")
    row_market, currency, term = get("Market"), get("Currency"), get("TermDuration")
    if row_market != market:
        raise RowError(f"Market {row_market!r} does not match the file's market {market}")
    if not _CURRENCY.fullmatch(currency):
        raise RowError(f"Currency {currency!r} is not an ISO 4217 code")
    if term not in TERMS:
        raise RowError(f"TermDuration {term!r} is not P1M, P1Y or P3Y")
    cycle = PLANS.get(get("BillingPlan").lower())
    if cycle is None:
        raise RowError(f"BillingPlan {get('BillingPlan')!r} is not Monthly, Annual, Triennial or None")
    start, end = parse_date(get("EffectiveStartDate")), parse_date(get("EffectiveEndDate"))
    if start > end:
        raise RowError(f"EffectiveStartDate {start} is after EffectiveEndDate {end}")
    tier_min, tier_max = _int(get("PricingTierRangeMin"), "PricingTierRangeMin", 1), _int(
        get("PricingTierRangeMax"), "PricingTierRangeMax", 999_999_999)
    if tier_min > tier_max:
        raise RowError(f"PricingTierRangeMin {tier_min} is above PricingTierRangeMax {tier_max}")
    erp, eos = get("ERP Price"), get("EndofSaleDate")
    return Row(
        product_id=product_id, sku_id=sku.zfill(4), market=market, currency=currency, term_duration=term,
        billing_cycle=cycle, tier_min=tier_min, tier_max=tier_max, effective_start=start, effective_end=end,
        unit_price=_money(get("UnitPrice"), "UnitPrice"), erp_price=_money(erp, "ERP Price") if erp else None,
        tags=[t.strip() for t in get("Tags").split(";") if t.strip()],
        end_of_sale_date=parse_date(eos) if eos else None, segment=get("Segment") or "Commercial",
        product_title=get("ProductTitle")[:500], sku_title=get("SkuTitle")[:500],
    )


