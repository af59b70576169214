"""dashboards/kos.json (ctest unit.dashboard): every PromQL query names only metrics kos-adapter,
kos-processor or kos-datagen really write on /metrics (read from their C sources: the families
announced by "# TYPE" lines and kos_prom_* calls) or kube-state-metrics' HPA series, listed in
kos_dashboard.EXTERNAL; the reader of queries and sources itself; the dashboard's shape (Grafana
JSON the sidecar can load, every panel on the ${datasource} variable and described). The same
names are checked against live /metrics pages in tests/it/test_dashboard.py."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_dashboard as kd  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dash():
    return kd.load()


def all_panels(dash):
    out = []

    def walk(ps):
        for p in ps:
            out.append(p)
            walk(p.get("panels", []))

    walk(dash["panels"])
    return out


def test_every_query_names_an_exported_metric(dash):
    exported = kd.exported_from_source()
    assert kd.unknown_names(dash, exported) == {}
    used = kd.used_names(dash)
    # not vacuous: the dashboard reads all three programs and the HPA series
    for prefix in ("kafka_consumergroup_lag", "kos_adapter_", "kos_processor_", "kos_datagen_",
                   "kube_horizontalpodautoscaler_"):
        assert any(n.startswith(prefix) for n in used), prefix


def test_external_names_are_declared_as_such_in_their_panels(dash):
    for p in all_panels(dash):
        exprs = " ".join(t.get("expr", "") for t in p.get("targets", []))
        names = kd.metric_names(exprs) if exprs else set()
        if names & set(kd.EXTERNAL):
            assert "kube-state-metrics" in p.get("description", ""), p["title"]
    # the list of external names is no wider than what the dashboard needs
    assert set(kd.EXTERNAL) <= set(kd.used_names(dash))


def test_the_source_reader_finds_each_programs_families():
    exported = kd.exported_from_source()
    for name in ("kafka_consumergroup_lag", "kafka_consumergroup_lag_seconds",
                 "kos_adapter_requests_total", "kos_adapter_request_duration_seconds_sum",
                 "kos_adapter_snapshot_age_seconds", "kos_adapter_refreshes_total",
                 "kos_processor_records_in_total", "kos_processor_rebalances_total",
                 "kos_processor_consumer_lag", "kos_processor_commit_latency_seconds_bucket",
                 "kos_datagen_target_rate", "kos_datagen_delivery_latency_seconds_bucket",
                 "kos_datagen_records_acked_total"):
        assert name in exported, name
    # a histogram family is its series, not its bare name; help words and types are no names
    assert "kos_processor_commit_latency_seconds" not in exported
    assert not exported & {"counter", "gauge", "histogram", "status"}
    # served through the metrics APIs only, never on /metrics
    assert "kafka_consumergroup_lag_headroom" not in exported
    assert "kafka_consumer_lag" not in exported


def test_unknown_metrics_are_reported_where_they_are_queried():
    bad = {
        "panels": [
            {"id": 1, "type": "row", "panels": [
                {"id": 2, "title": "nested", "targets": [
                    {"refId": "A", "expr": "sum(rate(kos_adapter_requests_totl[5m]))"}]}]},
            {"id": 3, "title": "headroom", "targets": [
                {"refId": "A", "expr": 'kafka_consumergroup_lag_headroom{group="g"} / 2'},
                {"refId": "B", "expr": "max by (group) (kafka_consumergroup_lag)"}]},
        ],
        "templating": {"list": [
            {"name": "g", "type": "query", "query": {"query": "label_values(no_such_metric, group)"}},
            {"name": "ds", "type": "datasource", "query": "prometheus"}]},
    }
    unknown = kd.unknown_names(bad, kd.exported_from_source())
    assert set(unknown) == {"kos_adapter_requests_totl", "kafka_consumergroup_lag_headroom",
                            "no_such_metric"}
    assert unknown["kos_adapter_requests_totl"] == ["panel 2 'nested' A"]
    assert unknown["no_such_metric"] == ["variable $g"]


@pytest.mark.parametrize("expr,names", [
    ("kafka_consumergroup_lag", {"kafka_consumergroup_lag"}),
    ('max by (group, topic) (kafka_consumergroup_lag{group=~"$group", topic!="x"})',
     {"kafka_consumergroup_lag"}),
    ("sum(rate(a_total[$__rate_interval])) / sum(rate(b_total[5m] offset 1h))", {"a_total", "b_total"}),
    ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[1m])))", {"h_bucket"}),
    ('sum without (topic) (x{code=~"5..", le="1e3"}) > bool 1e3', {"x"}),
    ("a * on (pod) group_left (node) b or c unless d", {"a", "b", "c", "d"}),
    ("sum(x) by (group) and y", {"x", "y"}),
    ("max(rate(x[5m:30s]))", {"x"}),
    ('label_values(kube_horizontalpodautoscaler_info{namespace=~"$ns"}, horizontalpodautoscaler)',
     {"kube_horizontalpodautoscaler_info"}),
    ("label_values(group)", set()),
    ("vector(1) + time()", set()),
    ("job:kos_lag:max", {"job:kos_lag:max"}),
])
def test_metric_names(expr, names):
    assert kd.metric_names(expr) == names


def test_exposition_reader():
    text = ("# HELP a_total x\n# TYPE a_total counter\na_total{code=\"200\"} 3\n"
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"
            "# TYPE g gauge\n"  # announced, no sample yet
            "b 1\n")
    assert kd.exported_from_exposition(text) == {"a_total", "h_bucket", "h_sum", "h_count", "g", "b"}


def test_dashboard_shape(dash):
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in all_panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in all_panels(dash):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p.get("description"), f"panel {p['title']!r} has no description"
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t["datasource"] == p["datasource"], p["title"]
            assert "__name__" not in t["expr"], "metric names hidden in matchers escape the check"
    # every template variable the queries use exists
    text = json.dumps([t["expr"] for p in all_panels(dash) for t in p.get("targets", [])])
    for name in ("group", "hpa", "hpa_namespace"):
        assert f"${name}" in text and name in variables
    # issue 12 item 4: rates, time to drain and status have panels
    for name in ("kafka_consumergroup_produce_rate", "kafka_consumergroup_consume_rate",
                 "kafka_consumergroup_time_to_drain_seconds", "kafka_consumergroup_status",
                 "kafka_consumergroup_stuck_partitions"):
        assert name in kd.used_names(dash), name


def test_chart_and_kustomize_carry_this_very_file():
    # charts/kos/dashboards/kos.json is a symlink (helm follows it); the kustomize component in
    # dashboards/ generates its ConfigMap from dashboards/kos.json itself.
    link = REPO / "charts" / "kos" / "dashboards" / "kos.json"
    assert link.is_symlink() and link.resolve() == kd.DASHBOARD.resolve()
    assert "kos.json" in (REPO / "dashboards" / "kustomization.yaml").read_text()
