"""kos on a real node, as a user runs it: the image built with buildah (scripts/build-image.sh),
a real containerd + runc + kubelet node joined to the test control plane (kube-scheduler
places the pods) inside the test's own network namespace (tests/harness/node.sh run), the whole
system applied with `kubectl apply -k` (a user's overlay on manifests/overlays/node), the adapter
on its in-cluster configuration (service-account token and CA, KUBERNETES_SERVICE_HOST/PORT)
reading the test broker. One test, one cluster, in steps:

  1. deploy: adapter pods Ready, the three APIServices Available through the aggregator's
     routing to the pods' endpoints, processor and datagen pods Running;
  2. the datagen HPA on headroom scales real generator pods 1 -> 4 (lag ~ 0);
  3. the original scenario: the load rises, the processor HPA on the seed's two Pods metrics
     scales kos-processor pods 1 -> 4; each pod's consumer has the pod's name as client.id and
     the per-pod metric lists exactly the pods; the lag drains, the HPA scales back to 1, each
     pod SIGTERMed by the kubelet leaves the group at once;
  4. the same with the External variant (components/hpa-external-lag);
  5. a rolling update of the adapter to a new image tag, a kubelet restart of a killed adapter
     container, and a serving-certificate rotation via the Secret, with the metric served
     through the aggregator and the APIServices Available all along;
  6. no lost session: the final SESSIONS equal what the input topics say (as it.processor).

Must run inside tests/harness/node.sh run (ctest e2e.node does); elsewhere it fails saying so.
"""

import hashlib
import json
import socket
import ssl
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_harness as kh  # noqa: E402
import kos_k8s  # noqa: E402
import kos_node as kn  # noqa: E402
import kos_processor as kp  # noqa: E402

NS, GROUP = kn.NS, kn.GROUP
TOPICS = ("GAME-FRAME-RQ", "GAME-FRAME-RS")
PODS_METRIC = ("/apis/custom.metrics.k8s.io/v1beta2/namespaces/kos/pods/%2A/{metric}"
               "?labelSelector=app.kubernetes.io%2Fname%3Dkos-processor")
ROLLOUT_TAG = "ghcr.io/kos-project/kos:dev-rollout"

MAX_SESSION_HITS = 4096  # kos-processor's default --max-session-hits
PROCESSOR_TARGET = 300  # messages per pod and topic (the user overlay of kos_node.overlay_for)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not kn.inside():
        pytest.fail(f"run through `{kn.NODE_SH} run -- python3 -m pytest {__file__}` "
                    "(ctest e2e.node does): the node needs its own network namespace")
    root = tmp_path_factory.mktemp("node")
    image = kn.build_image()
    rollout = kn.build_image(ROLLOUT_TAG, out=root / "rollout.tar")
    with kos_k8s.ControlPlane(root / "k8s") as cp, kh.KafkaBroker(root / "kafka") as kafka, \
            kn.Node(cp, images=[image, rollout]) as node:
        yield {"cp": cp, "kafka": kafka, "node": node, "root": root}


def wait_replicas(cp, deployment, want, timeout, what=""):
    seen = []

    def ok():
        names = [p[0] for p in kn.pods(cp, deployment) if p[1] == "Running" and p[2]]
        spec = cp.kubectl_json("get", "deployment", deployment, "-n", NS)["spec"]["replicas"]
        if not seen or seen[-1][1:] != (spec, len(names)):
            seen.append((round(time.monotonic() - t0, 1), spec, len(names)))
        return (names,) if spec == want and len(names) == want else None
    t0 = time.monotonic()
    try:
        names = kos_k8s.wait_until(ok, timeout, 1,
                                   f"{deployment}: {want} Running+Ready pods {what}")[0]
    except AssertionError as e:
        hpa = cp.kubectl("get", "hpa", "-n", NS, check=False).stdout
        raise AssertionError(f"{e}\n(seconds, spec.replicas, ready pods): {seen}\n{hpa}"
                             f"{cp.kubectl('get', 'pods', '-n', NS, '-o', 'wide', check=False).stdout}"
                             ) from None
    log(f"{deployment}: {want} pods Running+Ready in {time.monotonic() - t0:.1f} s")
    return names


def group_members(kafka):
    return kn.group_members(kafka.bootstrap)


def load_burst_until(cp, kafka, deployment, want, timeout=240):
    """Raises the generators' rate (doubling every 15 s while the HPA has not reached WANT
    replicas of DEPLOYMENT), then drops it back; returns the replicas seen at their peak."""
    rate, t0, last = 500, time.monotonic(), 0.0
    try:
        while time.monotonic() - t0 < timeout:
            if time.monotonic() - last > 15:
                reached = kn.set_datagen_rate(cp, rate)
                log(f"load: {rate} frames/s on each of {len(reached)} generators")
                rate, last = min(rate * 2, 40000), time.monotonic()
            spec = cp.kubectl_json("get", "deployment", deployment, "-n", NS)["spec"]["replicas"]
            if spec >= want:
                return wait_replicas(cp, deployment, want, 120, "(scaled up)")
            time.sleep(1)
        raise AssertionError(f"{deployment} never reached {want} replicas under load")
    finally:
        kn.set_datagen_rate(cp, 100)


def check_pods_are_consumers(cp, kafka, names):
    """Every processor pod's consumer is a group member named after the pod, and the per-pod
    metric has one item per pod."""
    members = kos_k8s.wait_until(
        lambda: (lambda m: m if set(m) == set(names) and all(m.values()) else None)(
            group_members(kafka)),
        60, 1, f"the group's members to be exactly the pods {names} with partitions each")
    log(f"group members: {members}")
    for metric in ("consumer_lag_game_frame_rq", "consumer_lag_game_frame_rs", "kafka_consumer_lag"):
        doc = json.loads(cp.kubectl("get", "--raw", PODS_METRIC.format(metric=metric)))
        got = sorted(i["describedObject"]["name"] for i in doc["items"])
        assert got == sorted(names), (metric, got, names)


def scale_1_4_1(cp, kafka, variant):
    log(f"--- processor HPA ({variant}): 1 -> 4 -> 1 on real pods")
    wait_replicas(cp, "kos-processor", 1, 120)
    up = load_burst_until(cp, kafka, "kos-processor", 4)
    check_pods_are_consumers(cp, kafka, up)
    status = cp.kubectl_json("get", "hpa", "kos-processor", "-n", NS)["status"]
    log(f"HPA current metrics: {json.dumps(status.get('currentMetrics'))}")
    # the lag drains; the HPA scales in; every removed pod left the group when SIGTERMed (no
    # member lingers until its session times out: 45 s)
    down = wait_replicas(cp, "kos-processor", 1, 240, "(scaled down)")
    kos_k8s.wait_until(lambda: set(group_members(kafka)) == set(down), 20, 1,
                       "the scaled-in pods to have left the group")


def test_kos_on_a_real_node(cluster):
    cp, kafka, root = cluster["cp"], cluster["kafka"], cluster["root"]
    kn.create_topics(kafka.bootstrap, TOPICS)
    # 1. deploy as a user: manifests + certificates, the Kafka Secrets, kubectl apply -k
    log("--- deploy")
    m = kn.prepare_manifests(root / "m")
    kn.create_kafka_secrets(cp, kafka.bootstrap)
    pods_overlay = kn.overlay_for(m, root / "user-pods", "pods", PROCESSOR_TARGET)
    t0 = time.monotonic()
    cp.kubectl("apply", "-k", pods_overlay)
    for name in kn.APISERVICES:
        cp.wait_apiservice_available(name, timeout=180)
    adapters = wait_replicas(cp, "kos-adapter", 2, 120)
    log(f"APIServices Available {time.monotonic() - t0:.1f} s after apply; adapters {adapters}")
    eps = cp.kubectl_json("get", "endpointslices", "-n", NS, "-l",
                          "kubernetes.io/service-name=kos-adapter")["items"]
    ips = sorted(a for e in eps for ep in e.get("endpoints", []) for a in ep["addresses"])
    assert ips == sorted(p[3] for p in kn.pods(cp, "kos-adapter")), (ips, kn.pods(cp, "kos-adapter"))
    # the adapter pods use the in-cluster configuration: no kubeconfig flag, a token, the env
    spec = cp.kubectl_json("get", "deployment", "kos-adapter", "-n", NS)["spec"]["template"]["spec"]
    assert not any("kubeconfig" in a for a in spec["containers"][0]["args"])
    # the processor's group exists once it has joined: then the lag is served
    val = kos_k8s.wait_until(lambda: json.loads(cp.kubectl("get", "--raw", kn.EXTERNAL_LAG))
                             ["items"][0]["value"], 60, 1, "the group's lag served")
    log(f"External lag through the aggregator: {val}")

    # 2. the generators' HPA on headroom: lag ~ 0 -> 4 real generator pods
    log("--- datagen HPA on headroom: 1 -> 4")
    wait_replicas(cp, "kos-datagen", 4, 120, "(headroom)")

    # 3. the original's Pods metrics
    scale_1_4_1(cp, kafka, "Pods metrics")

    # 4. the External variant, applied on top
    ext_overlay = kn.overlay_for(m, root / "user-external", "external", PROCESSOR_TARGET)
    cp.kubectl("apply", "-k", ext_overlay)
    # re-applying the manifests leaves the replicas the HPAs set alone
    assert cp.kubectl_json("get", "deployment", "kos-datagen", "-n", NS)["spec"]["replicas"] == 4
    hpa = cp.kubectl_json("get", "hpa", "kos-processor", "-n", NS)
    assert [x["type"] for x in hpa["spec"]["metrics"]] == ["External"]
    scale_1_4_1(cp, kafka, "External lag")

    # 5. operations, each with the metric served and the APIServices Available all along
    log("--- rolling update of the adapter to a new image tag")
    with kn.AvailabilityProbe(cp) as probe:
        cp.kubectl("-n", NS, "set", "image", "deployment/kos-adapter", f"kos-adapter={ROLLOUT_TAG}")
        cp.kubectl("-n", NS, "rollout", "status", "deployment/kos-adapter", "--timeout=180s",
                   timeout=200)
        time.sleep(5)
    images = {c["image"] for p in cp.kubectl_json("get", "pods", "-n", NS, "-l",
                                                   "app.kubernetes.io/name=kos-adapter")["items"]
              for c in p["spec"]["containers"]}
    assert images == {ROLLOUT_TAG}, images
    assert probe.failures == [], probe.failures
    log(f"rolling update: {probe.checks} checks, no failure")

    log("--- an adapter container killed: the kubelet restarts it")
    victim = kn.pods(cp, "kos-adapter")[0]
    with kn.AvailabilityProbe(cp) as probe:
        cluster["node"].kill_container(NS, victim[0], "kos-adapter")
        kos_k8s.wait_until(lambda: any(p[0] == victim[0] and p[4] > victim[4] and p[2]
                                       for p in kn.pods(cp, "kos-adapter")),
                           120, 1, f"{victim[0]} restarted and Ready")
        time.sleep(3)
    assert probe.failures == [], probe.failures
    log(f"restart: {probe.checks} checks, no failure")

    log("--- serving-certificate rotation via the Secret")
    before = serving_fingerprints(cp)
    kn.rotate_serving_cert(m)
    with kn.AvailabilityProbe(cp) as probe:
        cp.kubectl("apply", "-k", ext_overlay)
        cp.kubectl("-n", NS, "rollout", "status", "deployment/kos-adapter", "--timeout=180s",
                   timeout=200)
        time.sleep(5)
    after = serving_fingerprints(cp)
    assert after and not (after & before), (before, after)
    assert probe.failures == [], probe.failures
    log(f"rotation: certificates {before} -> {after}, {probe.checks} checks, no failure")

    # 6. no lost session: stop the input, let the processor finish, compare with the input
    log("--- SESSIONS against the input")
    cp.kubectl("-n", NS, "delete", "hpa", "kos-datagen")
    cp.kubectl("-n", NS, "scale", "deployment/kos-datagen", "--replicas=0")
    kos_k8s.wait_until(lambda: not kn.pods(cp, "kos-datagen"), 90, 1, "generators stopped")
    kp.wait_caught_up(kafka.bootstrap, GROUP, TOPICS, 4, timeout=240)
    want = kp.expected_sessions(kafka.bootstrap, *TOPICS)
    got = kp.final_sessions(kafka.bootstrap, "SESSIONS")
    log(f"{len(want)} sessions expected, {len(got)} in SESSIONS")
    assert len(want) > 1000
    # kos-processor caps a session at --max-session-hits (4096, README): at these rates a key
    # (ms timestamp + machine) recurs, and n requests x n responses within the window can pass
    # the cap. A capped session must hold exactly the cap, all of them hits the input has.
    capped = {k for k, c in want.items() if sum(c.values()) > MAX_SESSION_HITS}
    for k in capped & got.keys():
        assert sum(got[k].values()) == MAX_SESSION_HITS and not (got[k] - want[k]), k
    diffs = kp.compare({k: c for k, c in want.items() if k not in capped},
                       {k: c for k, c in got.items() if k not in capped})
    assert diffs == [] and capped <= got.keys(), "\n".join(diffs)
    log(f"{len(capped)} sessions at the cap of {MAX_SESSION_HITS} hits")


def serving_fingerprints(cp):
    """sha256 prefixes of the certificates the ready adapter pods serve (TLS to each pod IP)."""
    fps = set()
    for _, phase, ready, ip, _ in kn.pods(cp, "kos-adapter"):
        if phase != "Running" or not ready:
            continue
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection((ip, 6443), timeout=5) as s, \
                ctx.wrap_socket(s, server_hostname="kos-adapter.kos.svc") as t:
            fps.add(hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()[:16])
    return fps
