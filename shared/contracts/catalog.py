"""Messages of the catalog area."""
from pydantic import Field

from shared.contracts.common import BillingCycle, CatalogItemId, Country, Data, TermDuration, Text


class Plan(Data):
    term_duration: TermDuration
    billing_cycle: BillingCycle


class Offer(Data):
    catalog_item_id: CatalogItemId
    product_title: Text
    sku_title: Text
    markets: list[Country] = Field(min_length=1, max_length=300)
    plans: list[Plan] = Field(min_length=1, max_length=10)
    min_quantity: int = Field(1, ge=1)
    max_quantity: int = Field(10_000, ge=1)

    @property
    def product_id(self) -> str:
        return self.catalog_item_id.split(":")[0]


class PublishOffer(Offer):
    """catalog.publish_offer v1: add or replace an offer."""


class OfferPublished(Offer):
    """catalog.offer_published v1."""
