"""Item-graph query expansion inside search, and its off switch (hybrid-rerank-no-kg)."""

from __future__ import annotations

from dataclasses import replace

from shoplm.fitted import FittedPlatform
from shoplm.graph.build import build_graph
from shoplm.schema import Item
from shoplm.search.pipeline import NO_KG_METHOD, SEARCH_METHODS, SearchPipeline
from shoplm.search.query import MAX_RELATED, RELATED_WEIGHT, QueryAnalyzer


def with_graph(fitted: FittedPlatform, items: list[Item]) -> FittedPlatform:
    return replace(fitted, graph=build_graph(items))


def test_graph_terms_join_the_query_understanding(fitted, encoder, shop_items) -> None:
    pipeline = SearchPipeline(with_graph(fitted, shop_items), encoder)
    analyzed = pipeline.analyzer.analyze("espresso")
    # c1 "Brewmaster espresso coffee machine": its brand and category give the words
    assert {"brewmaster", "coffee"} <= set(analyzed.related)
    assert all(analyzed.expansions[t] <= RELATED_WEIGHT for t in analyzed.related)
    assert len(analyzed.related) <= MAX_RELATED
    assert "espresso" not in analyzed.related


def test_the_no_kg_method_and_the_switch_leave_the_graph_out(fitted, encoder, shop_items) -> None:
    assert NO_KG_METHOD in SEARCH_METHODS
    pipeline = SearchPipeline(with_graph(fitted, shop_items), encoder)
    assert pipeline.analyzer_for(NO_KG_METHOD).analyze("espresso").related == ()
    assert pipeline.analyzer_for("hybrid-rerank").analyze("espresso").related
    switched_off = SearchPipeline(with_graph(fitted, shop_items), encoder, kg_expansion=False)
    assert switched_off.graph_terms is None
    assert switched_off.analyzer.analyze("espresso").related == ()


def test_graph_expansion_brings_items_the_query_words_miss(fitted, encoder, shop_items) -> None:
    """The word espresso is in one title only; the graph adds "coffee", so the grinder and
    the beans of the same category are retrieved as well, and only with the graph."""
    pipeline = SearchPipeline(with_graph(fitted, shop_items), encoder)
    lexical = fitted.lexical_index

    def lexical_rows(method: str) -> set[str]:
        analyzed = pipeline.analyzer_for(method).analyze("espresso")
        rows = pipeline._lexical_rewritten(analyzed, 10, None)
        return {fitted.catalog.item_ids[r] for r in rows.tolist()}

    assert lexical.search("espresso", 10)[0].tolist() == [fitted.item_index["c1"]]
    assert lexical_rows(NO_KG_METHOD) == {"c1"}
    assert {"c1", "c2", "c3"} <= lexical_rows("hybrid-rerank")
    hits = pipeline.search("espresso", k=3, method="hybrid-rerank")
    assert hits[0].row == fitted.item_index["c1"]  # the typed word still ranks first


def test_a_graph_without_edges_adds_nothing(fitted, encoder, shop_items) -> None:
    bare = [Item(item_id=i.item_id, title=i.title) for i in shop_items]
    pipeline = SearchPipeline(with_graph(fitted, bare), encoder)
    assert pipeline.graph_terms is None
    assert pipeline.analyzer.analyze("espresso").related == ()


def test_related_terms_must_be_catalog_words() -> None:
    def related(tokens: tuple[str, ...]) -> list[tuple[str, float]]:
        return [("kettle", 1.0), ("unheardof", 1.0), ("tea", 0.5)]

    analyzer = QueryAnalyzer({"kettle": 3, "tea": 2, "green": 4}, related=related)
    analyzed = analyzer.analyze("green")
    assert analyzed.related == ("kettle", "tea")
    assert analyzed.expansions == {"kettle": RELATED_WEIGHT, "tea": RELATED_WEIGHT * 0.5}
