"""Write the golden sample of each registered (type, version) that has none yet.

    python -m tests.contract.write_samples

A sample is never rewritten: it stands for what an outside system publishes today, and test_golden_samples holds
every later version of the code to it. To add a version, add its data below and run this; review the new file.
One story runs through the data: a GB partner sells Microsoft 365 Business Basic to a customer in January 2025.
"""
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from shared.contracts import REGISTRY, MessageSpec
from shared.contracts.envelope import Actor, new_envelope
from shared.contracts.pricing import EVENT_COLUMNS

SAMPLES = Path(__file__).parent / "samples"

PARTNER, CUSTOMER = "0c3a5c8e-5b8f-4a5d-9f7e-2d1b6a9e4c10", "7f2d9b1e-3c4a-4e6f-8b2d-9a1c5e7f3b20"
SUBSCRIPTION = "6a1f4c2e-8b3d-4e7a-9c5f-1d2e3b4a5c6d"
BASIC, STANDARD = "CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LDPB:0001:CFQ7TTC0K8RL"
TRIAL, PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0K9NR", "CFQ7TTC0LCHC:0001:CFQ7TTC0K8TS"
PROMOTION = "39NFJQT1PJQB:0001:39NFJQT1Q5KN"
IDS = {"partner_id": PARTNER, "customer_id": CUSTOMER}
SUB = {"subscription_id": SUBSCRIPTION, **IDS}

TERMS = {  # Business Basic, P1Y paid yearly, 15% off with the launch promotion
    **SUB, "catalog_item_id": BASIC, "term_duration": "P1Y", "billing_cycle": "annual",
    "term_start": "2025-01-15", "term_end": "2026-01-14", "unit_price": "56.88", "currency": "GBP",
    "promotion_id": PROMOTION, "effective_unit_price": "48.348", "billing_currency": "GBP",
}
MIDTERM = {**TERMS, "at": "2025-03-03T09:12:44Z"}
TRIAL_TERMS = {
    **TERMS, "subscription_id": "2e9c7b5a-1f3d-4c8e-a6b2-7d9f0e1c3b5a", "catalog_item_id": TRIAL,
    "term_duration": "P1M", "billing_cycle": "none", "term_start": "2025-01-15", "term_end": "2025-02-14",
    "unit_price": "0.00", "promotion_id": None, "effective_unit_price": "0.00",
}
PREMIUM_TERMS = {
    **TRIAL_TERMS, "catalog_item_id": PREMIUM, "term_duration": "P1Y", "billing_cycle": "monthly",
    "term_start": "2025-02-15", "term_end": "2026-02-14", "unit_price": "208.56", "effective_unit_price": "208.56",
}
PLANS = [{"term_duration": t, "billing_cycle": c} for t, c in (
    ("P1M", "monthly"), ("P1Y", "monthly"), ("P1Y", "annual"), ("P3Y", "monthly"), ("P3Y", "annual"),
    ("P3Y", "triennial"))]
OFFER = {
    "catalog_item_id": BASIC, "product_title": "Microsoft 365 Business Basic",
    "sku_title": "Microsoft 365 Business Basic", "kind": "license", "segment": "commercial", "legacy": False,
    "markets": ["US", "GB", "DE", "FR"], "plans": PLANS, "min_quantity": 1, "max_quantity": 300,
    "pooled_max_per_customer": 300, "trial": False, "addon_prerequisites": [],
    "upgrade_targets": ["CFQ7TTC0LDPB:0001", "CFQ7TTC0LCHC:0001"],
}
EOS = {"product_id": "CFQ7TTC0LF8Q", "sku_id": "0001", "market": "US", "term_duration": None, "billing_cycle": None,
       "state": "EndOfSale", "effective_date": "2027-01-01"}
PRICE_ROW = {
    "product_id": "CFQ7TTC0LH18", "sku_id": "0001", "market": "GB", "currency": "GBP", "term_duration": "P1Y",
    "billing_cycle": "annual", "tier_min": 1, "tier_max": 999999, "effective_start": "2025-01-01",
    "effective_end": "9999-12-31", "unit_price": "56.88", "erp_price": "68.26", "tags": ["License"],
    "end_of_sale_date": None, "segment": "Commercial", "product_title": "Microsoft 365 Business Basic",
    "sku_title": "Microsoft 365 Business Basic",
}
NEXT_TERM = {"catalog_item_id": STANDARD, "term_duration": "P1Y", "billing_cycle": "annual", "quantity": 30,
             "submitted_at": "2025-03-03T09:12:44Z", "custom_term_end_date": None}

EXAMPLES: dict[tuple[str, int], dict[str, Any]] = {
    ("catalog.publish_offer", 1): OFFER,
    ("catalog.set_eos", 1): EOS,
    ("catalog.offer_published", 1): {**OFFER, "revision": 1},
    ("catalog.eos_changed", 1): {**EOS, "source": "command"},
    ("catalog.command_rejected", 1): {
        "command_type": "catalog.publish_offer", "code": "900270",
        "message": "billing cycle triennial is not offered with term P1Y"},
    ("pricing.set_price", 1): PRICE_ROW,
    ("pricing.prices_published", 1): {"market": "GB", "columns": list(EVENT_COLUMNS), "rows": [  # as on the wire
        ["CFQ7TTC0LH18", "0001", "GB", "GBP", "P1Y", "annual", 1, 999999, "2025-01-01", "9999-12-31", "56.88",
         ["License"], None],
        ["CFQ7TTC0LH18", "0001", "GB", "GBP", "P1Y", "monthly", 1, 999999, "2025-01-01", "9999-12-31", "59.72",
         ["License"], None]]},
    ("pricing.eos_date_found", 1): {
        "product_id": "CFQ7TTC0LF8Q", "sku_id": "0001", "market": "US", "term_duration": "P1M",
        "billing_cycle": "monthly", "state": "EndOfSale", "effective_date": "2027-01-01"},
    ("pricing.promotion_published", 1): {
        "promotion_id": PROMOTION, "name": "Microsoft 365 Business Basic 15% off annual",
        "product_id": "CFQ7TTC0LH18", "sku_id": "0001", "term_duration": "P1Y", "billing_cycle": "annual",
        "markets": ["US", "GB", "DE", "FR"], "segment": "commercial", "discount": "0.15",
        "start_date": "2025-01-01", "end_date": "2027-06-30", "min_quantity": 1, "max_quantity": 300,
        "redemption_limit": 1, "auto_applicable": True},
    ("pricing.fx_rates_published", 1): {"rates": [
        {"month": "2025-01", "from_currency": "GBP", "to_currency": "USD", "rate": "1.280638"},
        {"month": "2025-01", "from_currency": "EUR", "to_currency": "GBP", "rate": "0.848795"}]},
    ("pricing.command_rejected", 1): {
        "command_type": "pricing.set_price", "code": "INVALID_COMMAND",
        "message": "invalid data for pricing.set_price v1: unit_price: Input should be greater than or equal to 0"},
    ("partner.register", 1): {"partner_id": PARTNER, "name": "Contoso Cloud Partners Ltd",
                              "billing_currency": "GBP", "country": "GB"},
    ("customer.register", 1): {**IDS, "name": "Fabrikam Engineering Ltd", "country": "GB",
                               "segment": "commercial"},
    ("subscription.purchase", 1): {
        "customer_id": CUSTOMER, "catalog_item_id": BASIC, "term_duration": "P1Y", "billing_cycle": "annual",
        "quantity": 25, "auto_renew": True, "custom_term_end_date": None, "promotion_id": PROMOTION,
        "subscription_id": SUBSCRIPTION},
    ("subscription.change_quantity", 1): {"subscription_id": SUBSCRIPTION, "quantity": 30},
    ("subscription.set_auto_renew", 1): {"subscription_id": SUBSCRIPTION, "enabled": False},
    ("subscription.cancel", 1): {"subscription_id": SUBSCRIPTION},
    ("subscription.suspend", 1): {"subscription_id": SUBSCRIPTION},
    ("subscription.reactivate", 1): {"subscription_id": SUBSCRIPTION},
    ("subscription.schedule_change", 1): {
        "subscription_id": SUBSCRIPTION, "catalog_item_id": STANDARD, "term_duration": "P1Y",
        "billing_cycle": "annual", "quantity": 30, "custom_term_end_date": None},
    ("subscription.cancel_scheduled_change", 1): {"subscription_id": SUBSCRIPTION},
    ("subscription.transition", 1): {
        "subscription_id": SUBSCRIPTION, "target_catalog_item_id": STANDARD, "quantity": 10,
        "term_duration": "P1Y", "billing_cycle": "annual", "target_subscription_id": None, "when": "immediate"},
    ("subscription.change_term", 1): {"subscription_id": SUBSCRIPTION, "term_duration": "P3Y",
                                      "billing_cycle": "annual"},
    ("subscription.convert_trial", 1): {
        "subscription_id": TRIAL_TERMS["subscription_id"], "catalog_item_id": PREMIUM, "quantity": 25,
        "term_duration": "P1Y", "billing_cycle": "monthly", "target_subscription_id": None, "when": "at_renewal"},
    ("partner.registered", 1): {"partner_id": PARTNER, "name": "Contoso Cloud Partners Ltd",
                                "billing_currency": "GBP", "country": "GB"},
    ("customer.registered", 1): {**IDS, "name": "Fabrikam Engineering Ltd", "country": "GB",
                                 "segment": "commercial"},
    ("subscription.created", 1): {
        **TERMS, "quantity": 25, "auto_renew": True, "status": "active",
        "cancellation_allowed_until": "2025-01-22T10:00:00Z", "market": "GB"},
    ("subscription.renewed", 1): {
        **TERMS, "term_start": "2026-01-15", "term_end": "2027-01-14", "promotion_id": None,
        "effective_unit_price": "56.88", "quantity": 25, "auto_renew": True, "status": "active",
        "cancellation_allowed_until": "2026-01-22T00:00:00Z", "market": "GB", "previous_term_end": "2026-01-14"},
    ("subscription.terms_renewed", 1): {
        "customer_id": CUSTOMER, "instant": "2026-01-15T00:00:00Z", "renewals": [{
            **TERMS, "term_start": "2026-01-15", "term_end": "2027-01-14", "promotion_id": None,
            "effective_unit_price": "56.88", "quantity": 25, "auto_renew": True, "status": "active",
            "cancellation_allowed_until": "2026-01-22T00:00:00Z", "market": "GB", "previous_term_end": "2026-01-14"}]},
    ("subscription.expired", 1): {**SUB, "term_end": "2026-01-14", "reason": "auto_renew_off",
                                  "next_step_at": "2026-02-14T00:00:00Z"},
    ("subscription.quantity_changed", 1): {**MIDTERM, "quantity_before": 25, "quantity_after": 30},
    ("subscription.auto_renew_changed", 1): {**MIDTERM, "enabled": False},
    ("subscription.cancelled", 1): {**MIDTERM, "at": "2025-01-17T14:05:31Z", "quantity": 25},
    ("subscription.suspended", 1): MIDTERM,
    ("subscription.reactivated", 1): {**MIDTERM, "at": "2025-03-10T08:30:00Z"},
    ("subscription.change_scheduled", 1): {**MIDTERM, "scheduled_change": NEXT_TERM},
    ("subscription.scheduled_change_cancelled", 1): {**MIDTERM, "at": "2025-04-01T11:00:00Z",
                                                     "reason": "requested"},
    ("subscription.transitioned", 1): {
        **MIDTERM, "kind": "partial", "quantity_before": 25, "quantity_after": 15, "moved": 10,
        "target": {**TERMS, "subscription_id": "b3e8d1f4-6a2c-5e9b-8d7f-0c1a2b3c4d5e", "catalog_item_id": STANDARD,
                   "term_start": "2025-03-03", "unit_price": "118.50", "promotion_id": None,
                   "effective_unit_price": "118.50"},
        "target_quantity_after": 10},
    ("subscription.term_changed", 1): {
        **MIDTERM, "term_duration": "P3Y", "term_start": "2025-03-03", "term_end": "2028-03-02",
        "unit_price": "179.17", "promotion_id": None, "effective_unit_price": "179.17", "quantity": 25,
        "previous": TERMS},
    ("subscription.disabled", 1): {**SUB, "reason": "expired", "at": "2026-02-14T00:00:00Z",
                                   "next_step_at": "2026-05-15T00:00:00Z"},
    ("subscription.deleted", 1): {**SUB, "at": "2026-05-15T00:00:00Z"},
    ("subscription.trial_converted", 1): {**PREMIUM_TERMS, "at": "2025-02-15T00:00:00Z", "quantity": 25,
                                          "trial": TRIAL_TERMS},
    ("subscription.command_rejected", 1): {
        "command_type": "subscription.change_quantity", "code": "800090",
        "message": "Subscription quantity can't be decreased by 5: 0 seats were added in the last 168 hours; "
                   "schedule the reduction for the next term instead"},
    ("scheduler.term_ended", 1): {"subscription_id": SUBSCRIPTION, "customer_id": CUSTOMER,
                                  "term_end": "2026-01-14", "instant": "2026-01-15T00:00:00Z"},
    ("scheduler.terms_ended", 1): {"customer_id": CUSTOMER, "instant": "2026-01-15T00:00:00Z",
                                   "terms": [{"subscription_id": SUBSCRIPTION, "term_end": "2026-01-14"},
                                             {"subscription_id": PREMIUM_TERMS["subscription_id"],
                                              "term_end": "2026-01-14"}]},
    ("scheduler.eos_date_reached", 1): {**EOS, "instant": "2027-01-01T00:00:00Z"},
    ("scheduler.lifecycle_step_due", 1): {"subscription_id": SUBSCRIPTION, "customer_id": CUSTOMER,
                                          "step": "disabled", "instant": "2026-02-14T00:00:00Z"},
    ("scheduler.charge_cycle_started", 1): {
        "subscription_id": PREMIUM_TERMS["subscription_id"], "customer_id": CUSTOMER, "cycle_start": "2025-03-15",
        "term_end": "2026-02-14", "instant": "2025-03-15T00:00:00Z"},
    ("scheduler.month_ended", 1): {"month": "2025-01", "instant": "2025-02-01T00:00:00Z"},
    ("billing.charge_created", 1): {
        "line_id": "1d0f3b6e-5a8c-5c2e-9b47-3e6a8d1f2c90", **SUB, "charge_type": "new",
        "charge_start": "2025-01-15", "charge_end": "2026-01-14", "quantity": 25, "unit_price": "56.880000",
        "effective_unit_price": "48.348000000000", "amount": "1208.50", "currency": "GBP",
        "pricing_currency": "GBP", "fx_rate": "1", "promotion_id": PROMOTION,
        "reference_id": "1d0f3b6e-5a8c-5c2e-9b47-3e6a8d1f2c90", "order_date": "2025-01-15",
        "invoice_month": "2025-01"},
    ("billing.invoice_issued", 1): {"invoice_number": f"NCE-202501-{PARTNER}", "partner_id": PARTNER,
                                    "month": "2025-01", "totals": {"GBP": "1208.50"}, "lines": 1},
}

# The message each event answers (its causation); events of time and imports have none.
CAUSES = {
    "catalog.offer_published": "catalog.publish_offer", "catalog.eos_changed": "catalog.set_eos",
    "catalog.command_rejected": "catalog.publish_offer",
    "pricing.command_rejected": "pricing.set_price", "partner.registered": "partner.register",
    "customer.registered": "customer.register", "subscription.created": "subscription.purchase",
    "subscription.renewed": "scheduler.term_ended", "subscription.terms_renewed": "scheduler.terms_ended",
    "subscription.expired": "scheduler.term_ended",
    "subscription.quantity_changed": "subscription.change_quantity",
    "subscription.auto_renew_changed": "subscription.set_auto_renew",
    "subscription.cancelled": "subscription.cancel", "subscription.suspended": "subscription.suspend",
    "subscription.reactivated": "subscription.reactivate",
    "subscription.change_scheduled": "subscription.schedule_change",
    "subscription.scheduled_change_cancelled": "subscription.cancel_scheduled_change",
    "subscription.transitioned": "subscription.transition", "subscription.term_changed": "subscription.change_term",
    "subscription.disabled": "scheduler.lifecycle_step_due", "subscription.deleted": "scheduler.lifecycle_step_due",
    "subscription.trial_converted": "scheduler.term_ended",  # the trial's end (convert_trial was for at_renewal)
    "subscription.command_rejected": "subscription.change_quantity",
    "billing.charge_created": "subscription.created", "billing.invoice_issued": "scheduler.month_ended",
}
# When each message happened, where its data has no `at` or `instant` to tell (default: the purchase).
WHEN = {
    **dict.fromkeys(("subscription.change_quantity", "subscription.set_auto_renew", "subscription.suspend",
                     "subscription.schedule_change", "subscription.transition", "subscription.change_term",
                     "subscription.command_rejected"), MIDTERM["at"]),
    "subscription.cancel": "2025-01-17T14:05:31Z", "subscription.reactivate": "2025-03-10T08:30:00Z",
    "subscription.cancel_scheduled_change": "2025-04-01T11:00:00Z", "subscription.convert_trial": "2025-01-20T16:45:00Z",
    "subscription.renewed": "2026-01-15T00:00:00Z", "subscription.terms_renewed": "2026-01-15T00:00:00Z",
    "subscription.expired": "2026-01-15T00:00:00Z",
    "billing.invoice_issued": "2025-02-01T00:00:00Z",
}
PURCHASED = "2025-01-15T10:00:00Z"


def _id(type_: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"nce:golden-sample:{type_}")


def differences(sent: Any, kept: Any, at: str = "data") -> list[str]:
    """Where `kept` (the model's re-serialisation) lost or changed what `sent` carries."""
    if isinstance(sent, dict):
        if not isinstance(kept, dict):
            return [f"{at}: became {kept!r}"]
        return [d for k, v in sent.items()
                for d in (differences(v, kept[k], f"{at}.{k}") if k in kept else [f"{at}.{k}: dropped"])]
    if isinstance(sent, list) and isinstance(kept, list) and len(sent) == len(kept):
        return [d for i, (a, b) in enumerate(zip(sent, kept, strict=True)) for d in differences(a, b, f"{at}[{i}]")]
    return [] if sent == kept else [f"{at}: {sent!r} became {kept!r}"]


def sample(spec: MessageSpec) -> dict[str, Any]:
    """The full envelope, as its producer would publish it (data through the model, so in wire form)."""
    example = EXAMPLES[(spec.type, spec.version)]
    data = spec.model.model_validate(example).model_dump(mode="json")
    if lost := differences(example, data):
        raise ValueError(f"{spec.type} v{spec.version}: the example does not survive its model: {lost}")
    root = spec.type
    while root in CAUSES:
        root = CAUSES[root]
    command = spec.topic.carries_commands
    envelope = new_envelope(
        id=_id(spec.type), type=spec.type, version=spec.version, data=data,
        occurred_at=datetime.fromisoformat(WHEN.get(spec.type) or data.get("at") or data.get("instant") or PURCHASED),
        source=("crm-sync" if spec.topic.name == "nce.subscription.commands" else "nce-cli") if command
        else spec.topic.producer,
        correlation_id=str(_id(root)), causation_id=str(_id(CAUSES[spec.type])) if spec.type in CAUSES else None,
        actor=(Actor(partner_id=PARTNER, roles=["AdminAgent"])
               if spec.topic.name == "nce.subscription.commands" and spec.type != "partner.register"  # the operator's
               else Actor(partner_id=None, roles=["GlobalAdmin"])) if command else None,
    )
    return envelope.model_dump(mode="json")


def path_of(type_: str, version: int) -> Path:
    return SAMPLES / f"{type_}.v{version}.json"


def main() -> int:
    SAMPLES.mkdir(exist_ok=True)
    for spec in REGISTRY.values():
        path = path_of(spec.type, spec.version)
        if path.exists():
            continue
        if (spec.type, spec.version) not in EXAMPLES:
            print(f"no example data for {spec.type} v{spec.version}: add it to EXAMPLES", file=sys.stderr)
            return 1
        path.write_text(json.dumps(sample(spec), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
