#!/usr/bin/env bash
# The local demo, on a Kafka broker this script starts itself (127.0.0.1 only):
#   1. installs what is missing and builds kos;
#   2. starts a KRaft broker, creates the original's topics GAME-FRAME-RQ/-RS;
#   3. produces frames and gives consumer group KINGOFSCALING-APP real lag (a member holds the
#      partitions as pod "kos-processor-0", like the processor would);
#   4. starts kos-adapter on it and shows the lag the HPA would see, with curl and
#      kubectl get --raw, next to what Kafka's own kafka-consumer-groups says.
# Everything is stopped on exit. --keep leaves it running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0; [[ ${1:-} == --keep ]] && keep=1
work=${KOS_DEMO_DIR:-$(mktemp -d /tmp/kos-demo.XXXXXX)}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  tests/harness/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "installing and building (first run downloads Debian packages and Kafka jars)"
scripts/install-deps.sh
tests/harness/kafka.sh install
scripts/build.sh normal
tk=build/tests/tools/kos-testkit

say "starting Kafka"
tests/harness/kafka.sh start "$work/kafka"
B=$(cat "$work/kafka/bootstrap")

say "topics and a consumer group with lag"
now=$(($(date +%s%3N)))
for t in GAME-FRAME-RQ GAME-FRAME-RS; do
  $tk -b "$B" create-topic $t 4 >/dev/null
  for p in 0 1 2 3; do $tk -b "$B" produce $t $p $((2000 + p * 500)) --ts-ms $((now - 90000)) >/dev/null; done
done
$tk -b "$B" commit KINGOFSCALING-APP GAME-FRAME-RQ:0=1500 GAME-FRAME-RQ:1=2500 GAME-FRAME-RQ:2=0 \
  GAME-FRAME-RQ:3=3500 GAME-FRAME-RS:0=1000 GAME-FRAME-RS:1=2000 GAME-FRAME-RS:2=2900 GAME-FRAME-RS:3=3000
$tk -b "$B" member KINGOFSCALING-APP kos-processor-0 GAME-FRAME-RQ,GAME-FRAME-RS > "$work/member.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q assigned "$work/member.out" && break; sleep 0.2; done

say "starting kos-adapter"
certs/gen-certs.sh "$work/certs" 2>/dev/null
cat > "$work/mapping.txt" <<MAP
default deployments.apps kos-processor KINGOFSCALING-APP
default pods * KINGOFSCALING-APP
MAP
build/adapter/kos-adapter -b "$B" --secure-port 0 --bind-address 127.0.0.1 \
  --tls-cert-file "$work/certs/serving.crt" --tls-private-key-file "$work/certs/serving.key" \
  --client-ca-file "$work/certs/client-ca.crt" --mapping-file "$work/mapping.txt" \
  > "$work/adapter.out" 2> "$work/adapter.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on port' "$work/adapter.out" && break; sleep 0.1; done
port=$(awk '/listening on port/ {print $4}' "$work/adapter.out")
for _ in $(seq 100); do curl -sf --cacert "$work/certs/ca.crt" "https://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
C=(curl -s --cacert "$work/certs/ca.crt" --cert "$work/certs/admin.crt" --key "$work/certs/admin.key")
U=https://127.0.0.1:$port
cat > "$work/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: kos, cluster: {server: "$U", certificate-authority: "$work/certs/ca.crt"}}]
users: [{name: admin, user: {client-certificate: "$work/certs/admin.crt", client-key: "$work/certs/admin.key"}}]
contexts: [{name: kos, context: {cluster: kos, user: admin}}]
current-context: kos
KC
pretty() { python3 -m json.tool --indent 1; }

say "what Kafka says (kafka-consumer-groups --describe)"
tests/harness/kafka.sh cgc --bootstrap-server "$B" --describe --group KINGOFSCALING-APP 2>/dev/null

say "curl: external metric kafka_consumergroup_lag{group=KINGOFSCALING-APP}"
"${C[@]}" "$U/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag?labelSelector=group%3DKINGOFSCALING-APP" | pretty
say "curl: the same, per topic"
"${C[@]}" "$U/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag?labelSelector=group%3DKINGOFSCALING-APP%2Ctopic%20in%20(GAME-FRAME-RQ)" | pretty
say "kubectl get --raw: object metric of deployments.apps/kos-processor"
kubectl --kubeconfig "$work/kubeconfig" get --raw "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/deployments.apps/kos-processor/kafka_consumergroup_lag" | pretty
say "kubectl get --raw: the original's Pods metric consumer_lag_game_frame_rq, per pod"
kubectl --kubeconfig "$work/kubeconfig" get --raw "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/consumer_lag_game_frame_rq" | pretty
say "kubectl get --raw: age of the oldest unconsumed record"
kubectl --kubeconfig "$work/kubeconfig" get --raw "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag_seconds?labelSelector=group%3DKINGOFSCALING-APP" | pretty
say "/metrics (excerpt)"
"${C[@]}" "$U/metrics" | grep -E '^(kafka_|kos_adapter_refresh|kos_adapter_snapshot)'
if ((keep)); then
  say "running: adapter at $U, Kafka at $B, kubeconfig $work/kubeconfig (Ctrl-C stops)"
  wait
fi
say "done (workdir $work)"
