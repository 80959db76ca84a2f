"""Messages of the pricing area."""
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, field_serializer, model_validator

from shared.contracts.catalog import EosState
from shared.contracts.common import (
    BillingCycle, Country, Currency, Data, Money, ProductId, SkuId, TermDuration, Text, TierBound,
)
from shared.rules.plans import ALL_PLANS

Rate = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=10, allow_inf_nan=False)]
Fraction = Annotated[Decimal, Field(gt=0, lt=1, max_digits=8, decimal_places=6)]


class PriceRow(Data):
    """One row of a Partner Center price list (§2.2), prices for the whole term per license."""

    product_id: ProductId
    sku_id: SkuId
    market: Country
    currency: Currency
    term_duration: TermDuration
    billing_cycle: BillingCycle
    tier_min: TierBound = 1
    tier_max: TierBound = 999_999_999
    effective_start: date
    effective_end: date
    unit_price: Money
    erp_price: Money | None = None
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    end_of_sale_date: date | None = None
    segment: str = "Commercial"
    product_title: str = ""
    sku_title: str = ""

    @model_validator(mode="after")
    def _ranges(self) -> "PriceRow":
        if self.effective_start > self.effective_end:
            raise ValueError(f"EffectiveStartDate {self.effective_start} is after EffectiveEndDate {self.effective_end}")
        if self.tier_min > self.tier_max:
            raise ValueError(f"PricingTierRangeMin {self.tier_min} is above PricingTierRangeMax {self.tier_max}")
        _check_plan(self.term_duration, self.billing_cycle)
        if self.billing_cycle == "none" and self.unit_price != 0:
            raise ValueError(f"BillingPlan None is a trial's, and a trial is free: UnitPrice {self.unit_price} must "
                             "be 0")
        return self


def _check_plan(term: str, cycle: str) -> None:
    if (term, cycle) not in ALL_PLANS:
        raise ValueError(f"{term} billed {cycle} is not a plan (§1.2: P1M monthly; P1Y monthly or annual; P3Y "
                         "monthly, annual or triennial; a trial P1M none)")


class SetPrice(PriceRow):
    """pricing.set_price v1: add or replace one price row (price lists come in by `nce pricelist import`)."""


EVENT_COLUMNS = ("product_id", "sku_id", "market", "currency", "term_duration", "billing_cycle", "tier_min",
                 "tier_max", "effective_start", "effective_end", "unit_price", "tags", "end_of_sale_date")


def _rows_schema(schema: dict[str, Any]) -> None:
    """Document what the wire carries: each row an array in `columns` order (objects are accepted too)."""
    schema["items"] = {"anyOf": [{"type": "array", "description": "the row's values in `columns` order"},
                                 schema["items"]]}


class PricesPublished(Data):
    """pricing.prices_published v1: new or changed price rows of one market (chunks of a price-list import).

    On the wire each row is an array in `columns` order: a 500-row chunk is 2.5 times smaller than with objects,
    and it is what PostgreSQL writes fastest. Titles, ERP price and segment stay in pricing.
    """

    market: Country
    columns: tuple[Literal[EVENT_COLUMNS], ...] = EVENT_COLUMNS  # type: ignore[valid-type]
    rows: list[PriceRow] = Field(min_length=1, max_length=1000, json_schema_extra=_rows_schema)

    @model_validator(mode="before")
    @classmethod
    def _rows_from_arrays(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            columns = data.get("columns", EVENT_COLUMNS)
            rows = [dict(zip(columns, r, strict=True)) if isinstance(r, list | tuple) else r for r in data["rows"]]
            data = {**data, "rows": rows}
        return data

    @field_serializer("rows")
    def _rows_as_arrays(self, rows: list[PriceRow]) -> list[list[Any]]:
        return [[row[c] for c in self.columns] for row in (r.model_dump(mode="json") for r in rows)]


class EosDateFound(Data):
    """pricing.eos_date_found v1: an EndofSaleDate seen in a price list, for the catalog to apply."""

    product_id: ProductId
    sku_id: SkuId
    market: Country
    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None
    state: EosState = "EndOfSale"
    effective_date: date


class Promotion(Data):
    promotion_id: Annotated[str, Field(pattern=r"^[A-Z0-9]{12}:[A-Z0-9]{4}:[A-Z0-9]{12}$")]
    name: Text
    product_id: ProductId
    sku_id: SkuId
    term_duration: TermDuration
    billing_cycle: BillingCycle
    markets: list[Country] = Field(min_length=1)
    segment: str = "commercial"
    discount: Fraction
    start_date: date
    end_date: date
    min_quantity: int = Field(1, ge=1)
    max_quantity: int = Field(999_999_999, ge=1)
    redemption_limit: int = Field(1, ge=1)
    auto_applicable: bool = True

    @model_validator(mode="after")
    def _ranges(self) -> "Promotion":
        if self.start_date > self.end_date:
            raise ValueError(f"start_date {self.start_date} is after end_date {self.end_date}")
        if self.min_quantity > self.max_quantity:
            raise ValueError(f"min_quantity {self.min_quantity} is above max_quantity {self.max_quantity}")
        _check_plan(self.term_duration, self.billing_cycle)
        return self


class PromotionPublished(Promotion):
    """pricing.promotion_published v1."""


class FxRate(Data):
    month: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    from_currency: Currency
    to_currency: Currency
    rate: Rate


class FxRatesPublished(Data):
    """pricing.fx_rates_published v1: monthly rates, market currency → partner currency."""

    rates: list[FxRate] = Field(min_length=1, max_length=5000)
