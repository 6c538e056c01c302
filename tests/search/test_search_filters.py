import pytest

from shoplm.search.filters import SearchFilters


def test_filters_combine(fitted):
    catalog = fitted.catalog
    mask = SearchFilters(brands=["acme"], max_price=100).mask(catalog)
    assert [catalog.item_ids[i] for i in mask.nonzero()[0]] == ["p3"]
    phones = SearchFilters(category="Phones").mask(catalog)
    assert {catalog.item_ids[i] for i in phones.nonzero()[0]} == {"p1", "p2", "p3", "p4"}


def test_item_ids_restrict_to_a_collection(fitted):
    filters = SearchFilters(item_ids=["c1", "h2", "unknown"])
    assert not filters.is_empty()
    mask = filters.mask(fitted.catalog)
    assert {fitted.catalog.item_ids[i] for i in mask.nonzero()[0]} == {"c1", "h2"}
    assert SearchFilters().is_empty()


def test_price_range_must_be_ordered():
    with pytest.raises(ValueError, match="min_price must not exceed max_price"):
        SearchFilters(min_price=10, max_price=5)
