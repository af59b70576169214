#!/usr/bin/env bash
# The local demo: the original "king of scaling" scenario end to end on a Kafka broker this
# script starts itself (127.0.0.1 only), with kos-adapter in place of the JMX -> Prometheus ->
# adapter chain:
#   1. installs what is missing and builds kos;
#   2. starts a KRaft broker and kos-adapter (TLS, client certificates);
#   3. kos-datagen produces the original frames on a rate profile (calm, a surge, calm);
#   4. kos-processor joins, decodes and aggregates them into SESSIONS; a stand-in for the HPA
#      (scripts/demo_autoscale.py, the HPA's own rule on the adapter's External metric) starts
#      and stops processor replicas as the lag grows and drains;
#   5. shows what the HPA would read, with curl and kubectl get --raw, next to
#      kafka-consumer-groups, and draws lag + replicas + load over time to demo.png.
# Everything is stopped on exit. Options: --keep (leave Kafka, adapter and the last processor
# running until Ctrl-C), --short (a 45 s run instead of 100 s).
# --cluster: the same scenario on a real Kubernetes node instead (scripts/demo_cluster.py, in a
# network namespace of its own: control plane, Kafka, containerd + kubelet, the image built with
# buildah, kos applied with kubectl apply -k, the real HPA scaling real pods), progress like
# `kubectl get hpa,pods -w`, the same out/demo.png from the cluster's view. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0; duration=100; profile="3k@15s,ramp:60k@15s,hold@25s,3k@45s"; cluster=0; short=()
for a in "$@"; do
  case $a in
    --keep) keep=1 ;;
    --short) duration=45; profile="3k@8s,ramp:60k@8s,hold@10s,3k@19s"; short=(--short) ;;
    --cluster) cluster=1 ;;
    *) echo "demo.sh: unknown option $a (--keep, --short, --cluster)" >&2; exit 2 ;;
  esac
done
if ((cluster)); then
  ((keep == 0)) || { echo "demo.sh: --keep is for the local demo" >&2; exit 2; }
  printf '\n\033[1m== %s\033[0m\n' "installing and building (the first run also builds kubelet and the image)"
  scripts/install-deps.sh
  tests/harness/kafka.sh install
  scripts/install-k8s.sh
  scripts/build.sh normal
  mkdir -p out
  exec tests/harness/node.sh run -- /usr/bin/python3 scripts/demo_cluster.py --png out/demo.png "${short[@]}"
fi
work=${KOS_DEMO_DIR:-$(mktemp -d /tmp/kos-demo.XXXXXX)}
mkdir -p "$work" out
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  tests/harness/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "installing and building (the first run downloads Debian packages and Kafka jars)"
scripts/install-deps.sh
tests/harness/kafka.sh install
scripts/build.sh normal

say "starting Kafka"
tests/harness/kafka.sh start "$work/kafka"
B=$(cat "$work/kafka/bootstrap")

say "starting kos-adapter"
certs/gen-certs.sh "$work/certs" 2>/dev/null
cat > "$work/mapping.txt" <<MAP
default deployments.apps kos-processor KINGOFSCALING-APP
default pods * KINGOFSCALING-APP
MAP
build/adapter/kos-adapter -b "$B" --secure-port 0 --bind-address 127.0.0.1 --no-kube \
  --tls-cert-file "$work/certs/serving.crt" --tls-private-key-file "$work/certs/serving.key" \
  --client-ca-file "$work/certs/client-ca.crt" --mapping-file "$work/mapping.txt" \
  --refresh-interval 500ms > "$work/adapter.out" 2> "$work/adapter.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on port' "$work/adapter.out" && break; sleep 0.1; done
port=$(awk '/listening on port/ {print $4}' "$work/adapter.out")
U=https://127.0.0.1:$port
C=(curl -s --cacert "$work/certs/ca.crt" --cert "$work/certs/admin.crt" --key "$work/certs/admin.key")
cat > "$work/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: kos, cluster: {server: "$U", certificate-authority: "$work/certs/ca.crt"}}]
users: [{name: admin, user: {client-certificate: "$work/certs/admin.crt", client-key: "$work/certs/admin.key"}}]
contexts: [{name: kos, context: {cluster: kos, user: admin}}]
current-context: kos
KC

say "kos-datagen: profile $profile"
build/datagen/kos-datagen -b "$B" --profile "$profile" --http-port 0 --partitions 4 \
  --stats-interval 5s > "$work/datagen.out" 2> "$work/datagen.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on port' "$work/datagen.out" 2>/dev/null && break; sleep 0.1; done
dport=$(awk '/listening on port/ {print $4}' "$work/datagen.out")

say "kos-processor replicas driven by the adapter's lag (HPA rule, target 20000 per replica, 1..4)"
/usr/bin/python3 scripts/demo_autoscale.py --adapter "$U" --certs "$work/certs" --bootstrap "$B" \
  --processor build/processor/kos-processor --processor-args "--http-port 0 --stats-interval 0" \
  --target 20000 --min 1 --max 4 --sync 2 --downscale-window 8 --duration "$duration" \
  --datagen-url "http://127.0.0.1:$dport" --workdir "$work" \
  --png out/demo.png --json "$work/series.json" &
scaler=$!
sleep $((duration / 2))

pretty() { python3 -m json.tool --indent 1; }
say "mid-run, what the HPA reads: External kafka_consumergroup_lag{group=KINGOFSCALING-APP} (curl)"
"${C[@]}" "$U/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag?labelSelector=group%3DKINGOFSCALING-APP" | pretty
say "kubectl get --raw: the original's Pods metric consumer_lag_game_frame_rq, one item per processor"
kubectl --kubeconfig "$work/kubeconfig" get --raw "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/consumer_lag_game_frame_rq" | pretty
say "kubectl get --raw: age of the oldest unconsumed frame"
kubectl --kubeconfig "$work/kubeconfig" get --raw "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag_seconds?labelSelector=group%3DKINGOFSCALING-APP" | pretty
say "kafka-consumer-groups --describe (Kafka's own view, same moment)"
tests/harness/kafka.sh cgc --bootstrap-server "$B" --describe --group KINGOFSCALING-APP 2>/dev/null || true

wait "$scaler" || true
say "after the run"
"${C[@]}" "$U/metrics" | grep -E '^(kafka_consumergroup_lag|kos_adapter_refresh_duration|kos_adapter_snapshot_age)'
sessions=$(kcat -b "$B" -C -t SESSIONS -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l)
echo "SESSIONS holds $sessions session updates"
echo "plot: $PWD/out/demo.png (lag, processor replicas and generator rate over time)"
if ((keep)); then
  say "running: adapter $U, Kafka $B, kubeconfig $work/kubeconfig (Ctrl-C stops)"
  wait
fi
say "done (logs in $work)"
