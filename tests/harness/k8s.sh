#!/usr/bin/env bash
# Runs a real, minimal Kubernetes control plane for kos tests, all on 127.0.0.1:
#   etcd -> kube-apiserver (aggregation / front-proxy configured) -> kube-controller-manager
#   (deployment, replicaset, HPA, garbage collector) -> kwok (fake kubelet for node kwok-node-0).
# With KOS_K8S_NODE=1 (tests/harness/node.sh: a real kubelet joins, inside the test's own network
# namespace) there is no kwok but a kube-scheduler, ServiceAccount admission, aggregator routing to
# endpoints, and the controllers real pods need (service accounts, root CA, endpoints, PDBs).
# Binaries come from scripts/install-k8s.sh ($KOS_CACHE/k8s-$KUBE_VERSION/bin, or $KOS_K8S_BIN).
# All state lives in DIR: pki/, etcd/, *.log, pids/, admin.kubeconfig, ports, apiserver-url.
# Usage: k8s.sh start DIR | stop DIR | env DIR | status DIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/k8s-versions.env
source "$REPO/scripts/k8s-versions.env"
KOS_CACHE=${KOS_CACHE:-$HOME/.cache/kos}
BIN=${KOS_K8S_BIN:-$KOS_CACHE/k8s-$KUBE_VERSION/bin}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
HPA_SYNC_PERIOD=${KOS_K8S_HPA_SYNC_PERIOD:-2s}
NODE_MODE=${KOS_K8S_NODE:-0}
BIND_ADDRESS=${KOS_K8S_BIND_ADDRESS:-127.0.0.1}
SERVICE_CIDR=${KOS_K8S_SERVICE_CIDR:-10.0.0.0/24}
START_TIMEOUT_S=${KOS_K8S_START_TIMEOUT_S:-120}
STOP_TIMEOUT_S=15
# Stop order is the reverse of this.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kwok)
[[ $NODE_MODE == 1 ]] && COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler)
# Stop and straggler hunting cover both sets, whatever mode started DIR.
ALL_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { echo "k8s.sh: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
usage() {
	cat >&2 <<'EOF'
usage: k8s.sh start DIR    generate PKI (once), start etcd, kube-apiserver, kube-controller-manager
                           and kwok with state in DIR; creates node kwok-node-0; prints the
                           apiserver URL (also in DIR/apiserver-url); kubeconfig DIR/admin.kubeconfig
       k8s.sh stop DIR     stop them in reverse order (SIGTERM, SIGKILL after 15 s)
       k8s.sh env DIR      print shell exports (KUBECONFIG, KOS_K8S_APISERVER, KOS_K8S_BIN, KOS_KUBECTL)
       k8s.sh status DIR   list the components and whether they run
env:   KOS_CACHE, KOS_K8S_BIN (binary dir), KOS_K8S_OWNER_PID (stop everything when this pid
       exits), KOS_K8S_HPA_SYNC_PERIOD (default 2s), KOS_K8S_START_TIMEOUT_S (default 120),
       KOS_K8S_KCM_ARGS / KOS_K8S_APISERVER_ARGS (extra flags, space separated),
       KOS_K8S_NODE=1 (kube-scheduler instead of kwok, settings for a real kubelet),
       KOS_K8S_BIND_ADDRESS (apiserver address, default 127.0.0.1), KOS_K8S_APISERVER_PORT
       (default: a free port), KOS_K8S_SERVICE_CIDR (default 10.0.0.0/24; its first address, the
       "kubernetes" Service, is in the serving certificate)
EOF
	exit 2
}

now_ms() { echo $((${EPOCHREALTIME//[.,]/} / 1000)); }
fmt_ms() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); }

# True if PID is a live (not zombie) process.
alive() {
	local stat
	stat=$(cat 2>/dev/null "/proc/$1/stat") || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# True if PID runs binary NAME with DIR in its command line (guards against pid reuse).
is_ours() {
	local pid=$1 name=$2 dir=$3 cmd
	alive "$pid" || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	[[ $cmd == *"/$name "* && $cmd == *"$dir/"* ]]
}

comp_pid() { # prints the pid of component NAME of DIR if it runs
	local name=$1 dir=$2 pid
	[[ -f $dir/pids/$name ]] || return 1
	pid=$(<"$dir/pids/$name")
	is_ours "$pid" "$name" "$dir" && echo "$pid"
}

stop_comp() {
	local name=$1 dir=$2 pid i
	if pid=$(comp_pid "$name" "$dir"); then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
			is_ours "$pid" "$name" "$dir" || break
			sleep 0.1
		done
		if is_ours "$pid" "$name" "$dir"; then
			log "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT_S}s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				is_ours "$pid" "$name" "$dir" || break
				sleep 0.1
			done
		fi
	fi
	rm -f "$dir/pids/$name"
}

# Any process still running one of our binaries on DIR (e.g. a pid file was lost): kill it.
kill_stragglers() {
	local dir=$1 p name cmd argv0
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
		[[ $cmd == *"$dir/"* ]] || continue
		argv0=${cmd%% *}
		for name in "${ALL_COMPONENTS[@]}"; do
			[[ ${argv0##*/} == "$name" ]] || continue
			log "killing straggler $name (pid $p)"
			kill -KILL "$p" 2>/dev/null || true
		done
	done
}

stop_all() {
	local dir=$1 i wpid
	for ((i = ${#ALL_COMPONENTS[@]} - 1; i >= 0; i--)); do
		stop_comp "${ALL_COMPONENTS[i]}" "$dir"
	done
	kill_stragglers "$dir"
	if [[ -f $dir/pids/watcher ]]; then
		wpid=$(<"$dir/pids/watcher")
		rm -f "$dir/pids/watcher"
		# The watcher itself calls stop_all; never signal ourselves.
		if [[ $wpid != "${BASHPID:-$$}" ]] && alive "$wpid" &&
			tr '\0' ' ' 2>/dev/null <"/proc/$wpid/cmdline" | grep -q 'k8s.sh'; then
			kill -TERM "$wpid" 2>/dev/null || true
		fi
	fi
}

show_tail() { # NAME DIR OFFSET: lines of this run of NAME's log
	local name=$1 dir=$2 off=${3:-0} f=$2/$1.log
	[[ -f $f ]] || return 0
	{
		echo "--- error lines of this run in $f ---"
		tail -c +$((off + 1)) "$f" | grep -E '^(E[0-9]{4}|F[0-9]{4})|"level":"(error|fatal|panic)"|Error:|error:' |
			head -n 15 | cut -c1-400 || true
		echo "--- last lines of $f ---"
		tail -c +$((off + 1)) "$f" | tail -n 25 | cut -c1-400
	} >&2
}

need_bin() {
	local b
	for b in "$@"; do
		[[ -x $BIN/$b ]] || die "$BIN/$b missing: run scripts/install-k8s.sh first (or set KOS_K8S_BIN)"
	done
}

kubectl_bin() {
	if [[ -x $BIN/kubectl ]]; then echo "$BIN/kubectl"; else command -v kubectl || echo /usr/bin/kubectl; fi
}

# --- PKI -------------------------------------------------------------------------------------
# EC P-256 keys (fast to generate on 2 cores); certificates valid 10 years.
gen_pki() {
	local p=$1/pki
	[[ -f $p/.complete ]] && return 0
	rm -rf "$p"
	mkdir -p "$p"
	(
		cd "$p"
		umask 077
		newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
		ca() { # NAME CN
			newkey "$1.key"
			openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$1.crt"
		}
		leaf() { # NAME CA SUBJ EXTENSIONS
			newkey "$1.key"
			openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
			printf '%b\n' "$4" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -sha256 \
				-days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
			rm -f "$1.csr" "$1.ext"
		}
		ca ca kos-test-ca
		local sans="IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
		[[ $BIND_ADDRESS != 127.0.0.1 ]] && sans+=",IP:$BIND_ADDRESS"
		[[ $(service_ip) != 10.0.0.1 ]] && sans+=",IP:$(service_ip)"
		leaf apiserver ca /CN=kube-apiserver \
			"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=$sans"
		leaf admin ca "/O=system:masters/CN=admin" \
			"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
		# Separate CA for the aggregator's client identity (requestheader / front proxy).
		ca front-proxy-ca kos-test-front-proxy-ca
		leaf front-proxy-client front-proxy-ca /CN=front-proxy-client \
			"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
		# Service-account token signing key pair.
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
		openssl pkey -in sa.key -pubout -out sa.pub
		# Static bearer token for clients that cannot do client certs (curl, the C code).
		tok=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
		echo "$tok" >admin.token
		echo "$tok,admin,admin-uid,\"system:masters\"" >tokens.csv
		openssl verify -CAfile ca.crt apiserver.crt admin.crt >/dev/null
		openssl verify -CAfile front-proxy-ca.crt front-proxy-client.crt >/dev/null
		chmod 644 ./*.crt sa.pub
		touch .complete
	) || die "PKI generation in $p failed"
}

service_ip() { # the first address of SERVICE_CIDR: the "kubernetes" Service's ClusterIP
	local net=${SERVICE_CIDR%/*}
	echo "${net%.*}.$((${net##*.} + 1))"
}

write_kubeconfig() { # DIR URL
	local p=$1/pki
	b64() { base64 -w0 <"$1"; }
	cat >"$1/admin.kubeconfig.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kos
  cluster:
    server: $2
    certificate-authority-data: $(b64 "$p/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$p/admin.crt")
    client-key-data: $(b64 "$p/admin.key")
contexts:
- name: kos
  context: {cluster: kos, user: admin}
current-context: kos
EOF
	chmod 600 "$1/admin.kubeconfig.tmp"
	mv "$1/admin.kubeconfig.tmp" "$1/admin.kubeconfig"
}

pick_ports() { # N: prints N free loopback ports
	"$PY" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
' "$1"
}

# launch NAME DIR ARGS...: start BIN/NAME in the background, log to DIR/NAME.log; sets LOG_OFF
launch() {
	local name=$1 dir=$2
	shift 2
	touch "$dir/$name.log"
	LOG_OFF=$(stat -c %s "$dir/$name.log")
	echo "===== k8s.sh start $name $(date -Is) =====" >>"$dir/$name.log"
	"$BIN/$name" "$@" </dev/null >>"$dir/$name.log" 2>&1 &
	echo $! >"$dir/pids/$name"
}

# wait_for NAME DIR OFFSET TIMEOUT CMD...: poll CMD until it succeeds; fail if NAME dies.
wait_for() {
	local name=$1 dir=$2 off=$3 timeout=$4 pid deadline
	shift 4
	pid=$(<"$dir/pids/$name")
	deadline=$(($(now_ms) + timeout * 1000))
	while :; do
		if ! alive "$pid"; then
			show_tail "$name" "$dir" "$off"
			return 1
		fi
		"$@" >/dev/null 2>&1 && return 0
		if (($(now_ms) >= deadline)); then
			show_tail "$name" "$dir" "$off"
			log "$name not ready within ${timeout}s"
			return 1
		fi
		sleep 0.2
	done
}

start_watcher() {
	local dir=$1 owner=${KOS_K8S_OWNER_PID:-}
	[[ -n $owner ]] || return 0
	alive "$owner" || die "KOS_K8S_OWNER_PID=$owner is not running"
	# A test killed hard (ctest timeout, SIGKILL) cannot clean up; this stops the control plane
	# once the owner is gone. It ends by itself when the components are stopped normally.
	(
		trap 'exit 0' TERM
		while alive "$owner"; do
			sleep 1
			compgen -G "$dir/pids/[ek]*" >/dev/null || exit 0
		done
		stop_all "$dir"
	) </dev/null >/dev/null 2>&1 &
	echo $! >"$dir/pids/watcher"
}

cmd_start() {
	[[ $# -eq 1 ]] || usage
	local dir t0 tstep eport pport aport url kc kubectl pid n
	mkdir -p "$1"
	dir=$(cd "$1" && pwd -P)
	if [[ $NODE_MODE == 1 ]]; then
		need_bin etcd kube-apiserver kube-controller-manager kube-scheduler
	else
		need_bin etcd kube-apiserver kube-controller-manager kwok
	fi
	mkdir -p "$dir/pids"
	if pid=$(comp_pid kube-apiserver "$dir"); then
		log "control plane already running in $dir (apiserver pid $pid)"
		cat "$dir/apiserver-url"
		return 0
	fi
	stop_all "$dir" # leftovers of a half-started earlier run
	mkdir -p "$dir/pids"
	t0=$(now_ms)
	START_DIR=$dir
	trap 'stop_all "$START_DIR"' EXIT # on any failure below; cleared on success

	tstep=$(now_ms)
	gen_pki "$dir"
	local P=$dir/pki
	log "pki ready in $(fmt_ms $(($(now_ms) - tstep)))"

	# Ports are chosen once per DIR, so a restart keeps the kubeconfig valid.
	if [[ ! -f $dir/ports ]]; then
		pick_ports 4 >"$dir/ports"
	fi
	local sport
	read -r eport pport aport sport <"$dir/ports"
	aport=${KOS_K8S_APISERVER_PORT:-$aport}
	[[ $eport =~ ^[0-9]+$ && $pport =~ ^[0-9]+$ && $aport =~ ^[0-9]+$ ]] || die "bad $dir/ports"
	url=https://$BIND_ADDRESS:$aport
	kc=$dir/admin.kubeconfig
	write_kubeconfig "$dir" "$url"
	echo "$url" >"$dir/apiserver-url"

	# --- etcd ---
	tstep=$(now_ms)
	local efl=()
	"$BIN/etcd" --help 2>&1 | grep -q -- '--unsafe-no-fsync' && efl+=(--unsafe-no-fsync)
	launch etcd "$dir" --name=kos --data-dir="$dir/etcd" \
		--listen-client-urls="http://127.0.0.1:$eport" --advertise-client-urls="http://127.0.0.1:$eport" \
		--listen-peer-urls="http://127.0.0.1:$pport" --initial-advertise-peer-urls="http://127.0.0.1:$pport" \
		--initial-cluster="kos=http://127.0.0.1:$pport" --initial-cluster-state=new \
		--logger=zap --log-level=warn "${efl[@]}"
	start_watcher "$dir"
	wait_for etcd "$dir" "$LOG_OFF" 30 \
		curl -sf --max-time 2 "http://127.0.0.1:$eport/health" || die "etcd failed to start; log: $dir/etcd.log"
	log "etcd ready on 127.0.0.1:$eport in $(fmt_ms $(($(now_ms) - tstep)))"

	# --- kube-apiserver ---
	tstep=$(now_ms)
	mkdir -p "$dir/apiserver-certs"
	# kwok: no pods really run, so no service-account tokens, and the aggregator dials the
	# ExternalName Service. A real node: tokens mounted into pods, the aggregator dials the
	# adapter pods' endpoints as in a cluster without kube-proxy's help.
	local node_args=(--disable-admission-plugins=ServiceAccount --enable-aggregator-routing=false)
	[[ $NODE_MODE == 1 ]] && node_args=(--enable-aggregator-routing=true --kubelet-preferred-address-types=InternalIP)
	# shellcheck disable=SC2086
	launch kube-apiserver "$dir" \
		--bind-address="$BIND_ADDRESS" --secure-port="$aport" \
		--advertise-address="$BIND_ADDRESS" --endpoint-reconciler-type=none \
		--etcd-servers="http://127.0.0.1:$eport" \
		--cert-dir="$dir/apiserver-certs" \
		--tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
		--client-ca-file="$P/ca.crt" \
		--token-auth-file="$P/tokens.csv" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--authorization-mode=RBAC \
		--requestheader-client-ca-file="$P/front-proxy-ca.crt" \
		--requestheader-allowed-names=front-proxy-client \
		--requestheader-username-headers=X-Remote-User \
		--requestheader-group-headers=X-Remote-Group \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--proxy-client-cert-file="$P/front-proxy-client.crt" \
		--proxy-client-key-file="$P/front-proxy-client.key" \
		"${node_args[@]}" \
		--allow-privileged=true --enable-priority-and-fairness=false --profiling=false \
		--v=1 ${KOS_K8S_APISERVER_ARGS:-}
	wait_for kube-apiserver "$dir" "$LOG_OFF" "$START_TIMEOUT_S" \
		curl -sf --max-time 2 --cacert "$P/ca.crt" "$url/readyz" ||
		die "kube-apiserver failed to start; log: $dir/kube-apiserver.log"
	log "kube-apiserver ready at $url in $(fmt_ms $(($(now_ms) - tstep)))"

	# --- kube-controller-manager ---
	tstep=$(now_ms)
	# shellcheck disable=SC2086
	local controllers=deployment-controller,replicaset-controller,horizontal-pod-autoscaler-controller,garbage-collector-controller
	local kcm_node=()
	if [[ $NODE_MODE == 1 ]]; then
		controllers+=,serviceaccount-controller,root-ca-certificate-publisher-controller
		controllers+=,endpoints-controller,endpointslice-controller,disruption-controller
		# the kubelet registers with the not-ready taint; this controller lifts it once Ready
		controllers+=,node-lifecycle-controller
		kcm_node=(--root-ca-file="$P/ca.crt")
	fi
	launch kube-controller-manager "$dir" \
		--kubeconfig="$kc" "${kcm_node[@]}" \
		--controllers="$controllers" \
		--leader-elect=false --use-service-account-credentials=false \
		--secure-port=0 \
		--horizontal-pod-autoscaler-sync-period="$HPA_SYNC_PERIOD" \
		--horizontal-pod-autoscaler-downscale-stabilization=0s \
		--horizontal-pod-autoscaler-initial-readiness-delay=0s \
		--v=2 ${KOS_K8S_KCM_ARGS:-}
	# No health port (--secure-port=0): ready once it logged that it started its controllers.
	wait_for kube-controller-manager "$dir" "$LOG_OFF" 60 \
		kcm_started "$dir/kube-controller-manager.log" "$LOG_OFF" ||
		die "kube-controller-manager failed to start; log: $dir/kube-controller-manager.log"
	log "kube-controller-manager ready in $(fmt_ms $(($(now_ms) - tstep)))"

	kubectl=$(kubectl_bin)
	if [[ $NODE_MODE == 1 ]]; then
		start_scheduler "$dir" "$kc" "$sport"
	else
		start_kwok "$dir" "$kc" "$kubectl"
	fi

	trap - EXIT
	n=$(($(now_ms) - t0))
	echo "$n" >"$dir/start-ms"
	log "control plane up at $url in $(fmt_ms "$n") (kubeconfig $kc)"
	echo "$url"
}

start_scheduler() { # DIR KUBECONFIG PORT
	local dir=$1 kc=$2 port=$3 tstep
	tstep=$(now_ms)
	[[ $port =~ ^[0-9]+$ ]] || die "bad $dir/ports (no scheduler port): remove it"
	launch kube-scheduler "$dir" --kubeconfig="$kc" --leader-elect=false \
		--bind-address=127.0.0.1 --secure-port="$port" --v=1
	wait_for kube-scheduler "$dir" "$LOG_OFF" 60 \
		curl -sfk --max-time 2 "https://127.0.0.1:$port/healthz" ||
		die "kube-scheduler failed to start; log: $dir/kube-scheduler.log"
	log "kube-scheduler ready in $(fmt_ms $(($(now_ms) - tstep)))"
}

start_kwok() { # DIR KUBECONFIG KUBECTL
	local dir=$1 kc=$2 kubectl=$3 tstep
	tstep=$(now_ms)
	# kwok >= 0.8 has no built-in stages: install-k8s.sh extracts the upstream "fast" set
	# (node-initialize, node-heartbeat-with-lease, pod-ready/complete/delete) of this version.
	[[ -f $BIN/kwok-stages.yaml ]] || die "$BIN/kwok-stages.yaml missing: run scripts/install-k8s.sh"
	launch kwok "$dir" --kubeconfig="$kc" --config="$BIN/kwok-stages.yaml" \
		--manage-all-nodes=false \
		--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--manage-nodes-with-label-selector= \
		--cidr=127.244.0.0/16 --node-ip=127.0.0.1 \
		--node-lease-duration-seconds=40
	"$kubectl" --kubeconfig="$kc" apply -f - >/dev/null <<'EOF' || die "creating node kwok-node-0 failed"
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
	wait_for kwok "$dir" "$LOG_OFF" 60 node_ready "$kubectl" "$kc" kwok-node-0 ||
		die "kwok did not make node kwok-node-0 Ready; log: $dir/kwok.log"
	log "kwok ready (node kwok-node-0 Ready) in $(fmt_ms $(($(now_ms) - tstep)))"
}

kcm_started() { # LOG OFFSET: the HPA controller (started last of ours) is running
	tail -c +$(($2 + 1)) "$1" |
		grep -qE 'Controller starting\.\.\." controller="horizontal-pod-autoscaler-controller"|Starting HPA controller'
}

node_ready() { # KUBECTL KUBECONFIG NODE
	[[ $("$1" --kubeconfig="$2" get node "$3" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

cmd_stop() {
	[[ $# -eq 1 ]] || usage
	local dir
	[[ -d $1 ]] || return 0
	dir=$(cd "$1" && pwd -P)
	stop_all "$dir"
	log "control plane in $dir stopped"
}

cmd_env() {
	[[ $# -eq 1 ]] || usage
	local dir
	dir=$(cd "$1" && pwd -P)
	[[ -f $dir/apiserver-url ]] || die "no control plane was started in $dir"
	printf 'export KUBECONFIG=%q\n' "$dir/admin.kubeconfig"
	printf 'export KOS_K8S_APISERVER=%q\n' "$(<"$dir/apiserver-url")"
	printf 'export KOS_K8S_PKI=%q\n' "$dir/pki"
	printf 'export KOS_K8S_BIN=%q\n' "$BIN"
	printf 'export KOS_KUBECTL=%q\n' "$(kubectl_bin)"
}

cmd_status() {
	[[ $# -eq 1 ]] || usage
	local dir name pid rc=0
	dir=$(cd "$1" && pwd -P)
	for name in "${COMPONENTS[@]}"; do
		if pid=$(comp_pid "$name" "$dir"); then
			echo "$name running (pid $pid)"
		else
			echo "$name stopped"
			rc=1
		fi
	done
	return $rc
}

[[ $# -ge 1 ]] || usage
sub=$1
shift
case $sub in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
env) cmd_env "$@" ;;
status) cmd_status "$@" ;;
-h | --help | help) usage ;;
*)
	log "unknown command '$sub'"
	usage
	;;
esac
