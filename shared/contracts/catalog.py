"""Messages of the catalog area."""
from datetime import date
from typing import Literal

from pydantic import Field

from shared.contracts.common import (
    MAX_QUANTITY, BillingCycle, CatalogItemId, Country, Data, ProductId, ProductSku, SkuId, TermDuration, Text,
)

EosState = Literal["Active", "EndOfSale", "EndOfSaleWithConversions", "EndOfLife"]
ProductKind = Literal["license", "software_subscription", "perpetual"]
Segment = Literal["commercial", "education", "government", "nonprofit"]


class Plan(Data):
    term_duration: TermDuration
    billing_cycle: BillingCycle


class Offer(Data):
    """One purchasable SKU availability with everything a seller needs to know about it."""

    catalog_item_id: CatalogItemId
    product_title: Text
    sku_title: Text
    kind: ProductKind = "license"
    segment: Segment = "commercial"
    legacy: bool = False
    markets: list[Country] = Field(min_length=1, max_length=300)
    plans: list[Plan] = Field(min_length=1, max_length=10)
    min_quantity: int = Field(1, ge=1, le=MAX_QUANTITY)
    max_quantity: int = Field(10_000, ge=1, le=MAX_QUANTITY)
    pooled_max_per_customer: int | None = Field(None, ge=1, le=MAX_QUANTITY)
    trial: bool = False
    addon_prerequisites: list[ProductSku] = Field(default_factory=list, max_length=50)
    upgrade_targets: list[ProductSku] = Field(default_factory=list, max_length=50)

    @property
    def product_id(self) -> str:
        return self.catalog_item_id.split(":")[0]

    @property
    def sku_id(self) -> str:
        return self.catalog_item_id.split(":")[1]


class PublishOffer(Offer):
    """catalog.publish_offer v1: add or replace an offer."""


class OfferPublished(Offer):
    """catalog.offer_published v1; `revision` grows by one each time the offer's content changes."""

    revision: int = Field(1, ge=1)


class EosScope(Data):
    """Which offers a rule covers: a whole product, or narrowed by SKU, market, term and billing plan."""

    product_id: ProductId
    sku_id: SkuId | None = None
    market: Country | None = None
    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None


class SetEos(EosScope):
    """catalog.set_eos v1: the End-of-Sale state of a scope from an effective date (00:00Z) on."""

    state: EosState
    effective_date: date


class EosChanged(SetEos):
    """catalog.eos_changed v1."""

    source: Literal["offer_matrix", "price_list", "command"] = "command"
