"""dashboards/kos.json against live /metrics pages (ctest it.dashboard): kos-datagen produces,
kos-processor consumes as group KINGOFSCALING-APP, kos-adapter serves that group's lag, all
three against a real broker; every metric the dashboard queries is on one of the three pages
(or is a kube-state-metrics series, kos_dashboard.EXTERNAL), and every name the unit test
(tests/unit/test_dashboard.py) reads from the C sources is on a page too, so that fast check
never accepts a name the programs do not serve."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_dashboard as kdash  # noqa: E402
import kos_datagen as kdg  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_processor as kp  # noqa: E402

GROUP = "KINGOFSCALING-APP"


def test_dashboard_queries_only_served_metrics(tmp_path):
    pages = {}
    with kh.KafkaBroker(tmp_path / "kafka") as kafka:
        certs = ka.make_certs(tmp_path / "certs")
        with kdg.Datagen(kafka.bootstrap, "--rate", 200) as dg, \
                kp.Processor(kafka.bootstrap, env={"POD_NAME": "kos-processor-0"}) as proc, \
                ka.Adapter(certs, kafka.bootstrap, args=["--refresh-interval", "500ms"]) as ad:
            proc.wait_ready()

            def adapter_page():
                st, body = ad.get("/metrics", raw=True)
                assert st == 200, body
                text = body.decode()
                # the group's series are there once the processor has committed
                return text if f'kafka_consumergroup_lag{{group="{GROUP}"' in text else None

            pages["adapter"] = kh.wait_until(adapter_page, timeout=60,
                                             what="the processor's group on the adapter's /metrics")
            kh.wait_until(lambda: proc.metrics().get("kos_processor_commits_total", 0) > 0,
                          timeout=30, what="a processor commit")
            pages["processor"] = proc.request("GET", "/metrics")[1]
            pages["datagen"] = dg.request("GET", "/metrics")[1]

    live = {name: kdash.exported_from_exposition(text) for name, text in pages.items()}
    served = set().union(*live.values())
    for program, names in live.items():
        assert names, f"{program}: empty /metrics page"
    dash = kdash.load()
    assert kdash.unknown_names(dash, served) == {}
    # the kos series the dashboard reads are really there, per program
    used = set(kdash.used_names(dash)) - set(kdash.EXTERNAL)
    assert {n for n in used if n.startswith("kos_adapter_") or n.startswith("kafka_")} <= live["adapter"]
    assert {n for n in used if n.startswith("kos_processor_")} <= live["processor"]
    assert {n for n in used if n.startswith("kos_datagen_")} <= live["datagen"]
    # the unit test's reading of the sources names nothing the programs do not serve
    assert kdash.exported_from_source() - served == set()
