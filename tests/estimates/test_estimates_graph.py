"""Blast radius over the dependency graph: exact dependents, distances, edge kinds, overrides."""

from __future__ import annotations

import itertools

import pytest

from predictor.errors import ValidationError
from predictor.estimates.activity import ServiceActivity
from predictor.estimates.graph import KIND_RANK, BlastRadiusAnalyzer, DependencyGraph, parse_dependency_overrides

from histories import make_graph


def reference_blast_radius(edges, service):
    """Brute force: enumerate every simple path from each service up to SERVICE."""
    needs = {}
    for source, target, kind in edges:
        needs.setdefault(source, []).append((target, kind))
    result = {}
    names = {e[0] for e in edges} | {e[1] for e in edges}

    def walk(node, seen, hops, weakest):
        if node == service:
            yield hops, weakest
            return
        for target, kind in needs.get(node, []):
            if target not in seen:
                yield from walk(target, seen | {target}, hops + 1, min(weakest, KIND_RANK[kind]))

    for name in names - {service}:
        paths = list(walk(name, {name}, 0, 3))
        if paths:
            rank = max(p[1] for p in paths)
            result[name] = (min(p[0] for p in paths), {3: "hard", 2: "soft", 1: "optional"}[rank])
    return result


def test_hub_blast_radius_is_exactly_its_transitive_dependents():
    edges = make_graph(40, seed=3)
    graph = DependencyGraph(edges)
    impacts = graph.blast_radius("svc-000")
    expected = reference_blast_radius(edges, "svc-000")
    assert len(expected) >= 30            # svc-000 is a hub: most services hang from it
    assert {i.service: (i.distance, i.kind) for i in impacts} == expected


@pytest.mark.parametrize("service", ["svc-001", "svc-004", "svc-007"])
def test_blast_radius_of_other_services_matches_the_brute_force(service):
    edges = make_graph(25, seed=1)
    graph = DependencyGraph(edges)
    assert {i.service: (i.distance, i.kind) for i in graph.blast_radius(service)} == reference_blast_radius(edges, service)


def test_path_kind_is_its_weakest_edge_and_the_strongest_path_wins():
    # a <-hard- b <-soft- c ; a <-optional- d <-hard- e ; d also hard-depends on c
    edges = [("b", "a", "hard"), ("c", "b", "soft"), ("d", "a", "optional"), ("d", "c", "hard"), ("e", "d", "hard")]
    impacts = {i.service: i for i in DependencyGraph(edges).blast_radius("a")}
    assert (impacts["b"].distance, impacts["b"].kind, impacts["b"].via) == (1, "hard", "a")
    assert (impacts["c"].distance, impacts["c"].kind, impacts["c"].via) == (2, "soft", "b")
    # d is one optional hop away, but the path a-b-c-d is soft (its weakest edge), which is stronger
    assert (impacts["d"].distance, impacts["d"].kind, impacts["d"].via) == (1, "soft", "a")
    assert (impacts["e"].distance, impacts["e"].kind) == (2, "soft")
    assert list(impacts) == ["b", "d", "c", "e"]   # by distance, then strength


def test_max_depth_cuts_the_walk():
    edges = [("b", "a", "hard"), ("c", "b", "hard"), ("d", "c", "hard")]
    assert [i.service for i in DependencyGraph(edges).blast_radius("a", max_depth=2)] == ["b", "c"]


def test_cycles_terminate_and_exclude_the_service_itself():
    edges = [("b", "a", "hard"), ("a", "b", "soft"), ("c", "b", "hard")]
    impacts = {i.service: (i.distance, i.kind) for i in DependencyGraph(edges).blast_radius("a")}
    assert impacts == {"b": (1, "hard"), "c": (2, "hard")}


def test_request_overrides_extend_the_graph_without_changing_it():
    graph = DependencyGraph([("b", "a", "hard")])
    graph.warm()
    analyzer = BlastRadiusAnalyzer(graph, ServiceActivity())
    overrides = parse_dependency_overrides("a", [{"service": "x", "depends_on": "b", "kind": "soft"},
                                                 {"service": "b", "depends_on": "a", "kind": "optional"}])
    answer = analyzer.analyze("a", dependencies=overrides, at=0.0)
    assert {(i["service"], i["distance"], i["kind"]) for i in answer["affected"]} == {("b", 1, "optional"),
                                                                                    ("x", 2, "optional")}
    assert graph.dependents_count("a") == 1 and graph.dependents["a"] == {"b": "hard"}
    assert [(i["service"], i["kind"]) for i in analyzer.analyze("a", at=0.0)["affected"]] == [("b", "hard")]


@pytest.mark.parametrize("items, field, message", [
    ("b", "params.dependencies", "expected a list"),
    ([3], "params.dependencies[0]", "expected an object"),
    ([{"kind": "hard"}], "params.dependencies[0].depends_on", "expected a service name"),
    ([{"depends_on": "b", "kind": "strong"}], "params.dependencies[0].kind", "expected one of hard, soft, optional"),
])
def test_bad_dependency_overrides_name_the_field(items, field, message):
    with pytest.raises(ValidationError) as caught:
        parse_dependency_overrides("a", items)
    assert caught.value.field == field and message in str(caught.value)


def test_risk_grows_with_the_blast_radius_and_concurrent_neighbours():
    hub_edges = [(f"s{i}", "hub", "hard") for i in range(8)]
    graph = DependencyGraph(hub_edges + [("leaf", "other", "optional")])
    graph.warm()
    activity = ServiceActivity()
    analyzer = BlastRadiusAnalyzer(graph, activity)
    hub = analyzer.analyze("hub", environment="production", at=1000.0, failure_probability=0.1)
    other = analyzer.analyze("other", environment="production", at=1000.0, failure_probability=0.1)
    assert hub["risk_score"] > other["risk_score"]
    assert hub["affected_by_kind"] == {"hard": 8, "soft": 0, "optional": 0}
    for i in range(3):
        activity.observe_deployment({"id": f"n{i}", "service": f"s{i}", "environment": "production",
                                     "started": 900.0 + i, "status": "in-progress"})
    busy = analyzer.analyze("hub", environment="production", at=1000.0, failure_probability=0.1)
    assert len(busy["concurrent_deployments"]) == 3
    assert {c["relation"] for c in busy["concurrent_deployments"]} == {"dependent"}
    assert busy["risk_score"] > hub["risk_score"]
    names = [f["name"] for f in busy["factors"]]
    assert set(names) == {"blast_radius", "failure_likelihood", "concurrent_deployments"}
    staging = analyzer.analyze("hub", environment="staging", at=1000.0, failure_probability=0.1)
    assert staging["risk_score"] < hub["risk_score"]


def test_criticality_reflects_volume_failures_and_dependents(store):
    from predictor.estimates.history import load_history

    history = load_history(store)
    graph = DependencyGraph.from_store(store)
    analyzer = BlastRadiusAnalyzer(graph, ServiceActivity.from_history(history))
    answer = analyzer.analyze("svc-000", environment="production")
    by_name = {a["service"]: a for a in answer["affected"]}
    for item in answer["affected"]:
        mask = (history.service == item["service"]) & (history.started > history.started[-1] - 28 * 86400)
        assert item["deploys_per_week"] == pytest.approx(mask.sum() / 4.0, abs=1e-3)
        assert item["dependents"] == len(graph.blast_radius(item["service"]))
        assert 0.0 <= item["criticality"] <= 1.0
    hubs = sorted(by_name.values(), key=lambda a: -a["dependents"])
    leaves = [a for a in by_name.values() if a["dependents"] == 0]
    assert hubs[0]["criticality"] > min(a["criticality"] for a in leaves)


def test_every_pair_matches_on_a_dense_random_graph():
    edges = make_graph(14, seed=9)
    graph = DependencyGraph(edges)
    for name in sorted(graph.services):
        got = {i.service: (i.distance, i.kind) for i in graph.blast_radius(name)}
        assert got == reference_blast_radius(edges, name), name
    assert not list(itertools.islice(graph.blast_radius("svc-013"), 1))  # the newest service is a leaf
