"""The `nce up` entry point routes each contract path to its service and merges their metrics."""
import pytest

from services.gateway import merge_metrics, service_for, service_urls


def test_contract_paths_reach_their_service() -> None:
    assert service_for("/catalog/items") == "catalog"
    assert service_for("/pricing/quote") == "pricing"
    assert service_for("/subscriptions/S1") == "subscription"
    assert service_for("/billing/invoices/P1/2025-01/reconciliation.csv") == "billing"
    assert service_for("/clock") == "scheduler"
    assert service_for("/catalogue") is None


def test_metrics_of_several_services_merge_into_one_valid_family_each() -> None:
    a = '# HELP nce_x_total X\n# TYPE nce_x_total counter\nnce_x_total{service="a"} 1.0\n'
    b = '# HELP nce_x_total X\n# TYPE nce_x_total counter\nnce_x_total{service="b"} 2.0\n'
    merged = merge_metrics([a, b])
    assert merged.count("# TYPE nce_x_total counter") == 1
    assert 'nce_x_total{service="a"} 1.0' in merged and 'nce_x_total{service="b"} 2.0' in merged


def test_the_standalone_gateway_finds_services_by_name_and_default_port_unless_told() -> None:
    urls = service_urls(["billing=http://billing.nce.svc:9000/"])
    assert urls["catalog"] == "http://catalog:8101" and urls["billing"] == "http://billing.nce.svc:9000"
    for bad in ["invoicing=http://x:1", "billing", "billing=x:1"]:
        with pytest.raises(ValueError, match="NAME=http"):
            service_urls([bad])
