"""The reconciliation file's columns are spelled as Partner Center's (domain.md §4.4)."""
from services.billing.api import RECON_COLUMNS


def test_the_linking_and_promotion_columns_are_spelled_as_in_section_4_4() -> None:
    names = [name for name, _ in RECON_COLUMNS]
    assert names[-5:] == ["SubscriptionId", "ReferenceId", "ProductQualifiers", "PromotionID",
                          "PriceAdjustmentDescription"]


def test_billing_frequency_is_spelled_as_the_price_lists_billing_plan_and_blank_for_a_trial() -> None:
    frequency = dict(RECON_COLUMNS)["BillingFrequency"]
    assert [frequency({"billing_cycle": c}) for c in ("monthly", "annual", "triennial", "none")] == [
        "Monthly", "Annual", "Triennial", ""]
