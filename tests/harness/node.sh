#!/usr/bin/env bash
# A real Kubernetes node for kos tests, next to kwok: containerd + runc + kubelet, joined to the
# control plane of tests/harness/k8s.sh (KOS_K8S_NODE=1: with kube-scheduler), all inside a
# network namespace this script creates, so the node has an address of its own and nothing
# leaves the machine:
#   lo of the namespace    127.0.0.1, node address 10.254.0.1 (kubelet, Kafka's listener),
#                          10.254.128.1 (the "kubernetes" Service: the apiserver listens there
#                          on 443, so pods' KUBERNETES_SERVICE_HOST/PORT reach it without kube-proxy)
#   pod network            10.254.1.0/24, one veth per pod (CNI ptp + host-local): pods reach the
#                          namespace's addresses, the apiserver and kubelet reach the pods
# The whole test runs inside that namespace (`node.sh run`; nsenter, not `ip netns exec`, which
# would remount /sys without the cgroup hierarchies), and in a private mount namespace, so every
# mount containerd and kubelet make disappears with their processes.
#
# Usage: node.sh run [--] CMD...   clean up what dead runs left, create the namespace, run CMD in
#                                  it (env: KOS_NODE_RUN, KOS_NODE_NETNS, KOS_NODE_IP,
#                                  KOS_K8S_NODE=1, KOS_K8S_BIND_ADDRESS, KOS_K8S_APISERVER_PORT,
#                                  KOS_K8S_SERVICE_CIDR, KOS_KAFKA_HOST), then remove all of it;
#                                  exits with CMD's status
#        node.sh start KUBECONFIG  (inside `run`) start containerd, import the images, start the
#                                  kubelet of node "kos-node"; waits until the node is Ready
#        node.sh stop              (inside `run`) stop kubelet, every container, containerd
#        node.sh import TAR...     (inside `run`) import image archives (docker-archive/OCI)
#        node.sh ctr ARGS...       (inside `run`) ctr on the node's containerd, namespace k8s.io
#        node.sh cleanup           remove the namespaces, containers, cgroups and state of runs
#                                  whose owner is gone (a kill -9); `run` does this first
#        node.sh check             print the missing prerequisites (exit 1 if any)
# State of a run: $KOS_CACHE/node/runs/<netns>/ (containerd root and state, runc root, kubelet
# root, CNI, logs). Images: scripts/build-image.sh (kos, and --pause for the sandbox image).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/k8s-versions.env
source "$REPO/scripts/k8s-versions.env"
KOS_CACHE=${KOS_CACHE:-$HOME/.cache/kos}
BIN=${KOS_K8S_BIN:-$KOS_CACHE/k8s-$KUBE_VERSION/bin}
RUNS=$KOS_CACHE/node/runs
NODE_IP=10.254.0.1
SERVICE_CIDR=10.254.128.0/24
SERVICE_IP=10.254.128.1
POD_CIDR=10.254.1.0/24
NODE_NAME=kos-node
PAUSE_IMAGE=localhost/kos-pause:3.10
CNI_BIN=${KOS_CNI_BIN:-/usr/lib/cni}
CGROUP_V1=(cpu cpuacct cpuset memory devices freezer blkio pids systemd)
STOP_TIMEOUT_S=15

log() { echo "node.sh: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

now_ms() { echo $((${EPOCHREALTIME//[.,]/} / 1000)); }
alive() {
	local stat
	stat=$(cat 2>/dev/null "/proc/$1/stat") || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}
starttime() { # PID: its start time in clock ticks (a pid reused later has another)
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	echo "${20}"
}

# --- prerequisites -----------------------------------------------------------------------------
missing() { # prints one line per missing prerequisite
	[[ $(id -u) == 0 ]] || echo "not root (network namespaces, mounts and containers need root)"
	local b
	for b in ip nsenter unshare containerd containerd-shim-runc-v2 runc ctr mount umount; do
		command -v "$b" >/dev/null || echo "$b not on PATH (scripts/install-deps.sh installs it)"
	done
	for b in ptp host-local loopback; do
		[[ -x $CNI_BIN/$b ]] || echo "$CNI_BIN/$b missing (Debian package containernetworking-plugins)"
	done
	for b in kubelet kube-scheduler; do
		[[ -x $BIN/$b ]] || echo "$BIN/$b missing (scripts/install-k8s.sh builds it)"
	done
	[[ -d /sys/fs/cgroup/pids || -f /sys/fs/cgroup/cgroup.controllers ]] ||
		echo "no cgroup hierarchy under /sys/fs/cgroup"
	return 0
}

cmd_check() {
	local m
	m=$(missing)
	[[ -z $m ]] && return 0
	printf '%s\n' "$m" >&2
	return 1
}

# --- cleanup of a run (ours at the end, or a dead owner's at the start of the next) ------------
netns_inode() { stat -L -c %i "/run/netns/$1" 2>/dev/null; }

# Every process whose network namespace is NETNS (containerd, shims, kubelet, the control plane,
# Kafka, the test itself): SIGKILL.
kill_netns_procs() {
	local ino=$1 p n i
	[[ -n $ino ]] || return 0
	for i in 1 2 3; do
		n=0
		for p in /proc/[0-9]*; do
			[[ $(stat -L -c %i "$p/ns/net" 2>/dev/null) == "$ino" ]] || continue
			kill -KILL "${p#/proc/}" 2>/dev/null && n=$((n + 1))
		done
		((n)) || break
		sleep 0.3
	done
}

# Processes whose root filesystem is one of the run's snapshots (every container of the run, pause
# included, whatever cgroup it got): their root mount names the run's directory.
rootfs_procs() { # RUNDIR
	local p
	for p in /proc/[0-9]*; do
		head -n 1 "$p/mountinfo" 2>/dev/null | grep -qF "=$1/containerd/" && echo "${p#/proc/}"
	done
	return 0
}

# Containers of the run: runc's own state first, then any process running on the run's snapshots
# or left in the run's cgroup root; their emptied cgroups are removed.
kill_containers() {
	local run=$1 name=$2 id c f p i cg
	local -A cgroups=()
	for i in 1 2 3 4 5; do
		local pids
		pids=$(rootfs_procs "$run")
		[[ -n $pids ]] || break
		for p in $pids; do
			while IFS=: read -r _ c cg; do
				[[ -n $cg && $cg != / ]] && cgroups[$c:$cg]=1
			done <"/proc/$p/cgroup" 2>/dev/null || true
			kill -KILL "$p" 2>/dev/null || true
		done
		sleep 0.3
	done
	for c in "${!cgroups[@]}"; do
		cg=${c#*:}
		c=${c%%:*}
		c=${c#name=}
		[[ -z $c ]] && c=unified
		[[ -d /sys/fs/cgroup/$c$cg ]] && rmdir "/sys/fs/cgroup/$c$cg" 2>/dev/null || true
	done
	if [[ -d $run/runc ]]; then
		for id in $(runc --root "$run/runc" list -q 2>/dev/null); do
			runc --root "$run/runc" kill -a "$id" KILL 2>/dev/null || true
			runc --root "$run/runc" delete -f "$id" 2>/dev/null || true
		done
	fi
	for i in 1 2 3 4 5; do
		local left=0
		for c in "${CGROUP_V1[@]}"; do
			[[ -d /sys/fs/cgroup/$c/$name ]] || continue
			while read -r f; do
				while read -r p; do
					[[ -n $p ]] && kill -KILL "$p" 2>/dev/null && left=1
				done <"$f"
			done < <(find "/sys/fs/cgroup/$c/$name" -name cgroup.procs 2>/dev/null)
		done
		((left)) || break
		sleep 0.3
	done
	for c in "${CGROUP_V1[@]}" unified; do
		[[ -d /sys/fs/cgroup/$c/$name ]] || continue
		find "/sys/fs/cgroup/$c/$name" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
}

unmount_under() { # DIR: every mount point below DIR, deepest first (this mount namespace)
	local d=$1 m
	[[ -d $d ]] || return 0
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$d/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
}

teardown_run() { # NAME: everything of run NAME, owner alive or not
	local name=$1 run=$RUNS/$1 ino
	ino=$(netns_inode "$name" || true)
	kill_containers "$run" "$name"
	kill_netns_procs "$ino"
	kill_containers "$run" "$name" # anything a dying shim started meanwhile
	[[ -e /run/netns/$name ]] && { ip netns del "$name" 2>/dev/null || rm -f "/run/netns/$name"; }
	unmount_under "$run"
	rm -rf "$run"
}

owner_alive() { # RUNDIR
	local pid st
	[[ -f $1/owner ]] || return 1
	read -r pid st <"$1/owner" || return 1
	alive "$pid" && [[ $(starttime "$pid") == "$st" ]]
}

cmd_cleanup() {
	local run name
	mkdir -p "$RUNS"
	for run in "$RUNS"/kos-node-*; do
		[[ -d $run ]] || continue
		owner_alive "$run" && continue
		name=${run##*/}
		log "removing leftovers of run $name (owner gone)"
		teardown_run "$name"
	done
	# Containers of runs whose directory is already gone (their root mount still names it).
	local p
	for name in $(for p in /proc/[0-9]*; do
		head -n 1 "$p/mountinfo" 2>/dev/null | grep -oF "=$RUNS/kos-node-" >/dev/null &&
			head -n 1 "$p/mountinfo" | grep -o "=$RUNS/kos-node-[0-9]*" | sed 's|.*/||'
	done | sort -u); do
		[[ -d $RUNS/$name ]] && continue
		log "killing the containers of run $name (its directory is gone)"
		kill_containers "$RUNS/$name" "$name"
	done
	# A namespace whose run directory is gone (a kill -9 between the two): ours by name only.
	for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^kos-node-' || true); do
		[[ -d $RUNS/$name ]] && continue
		log "removing orphan network namespace $name"
		teardown_run "$name"
	done
}

# --- run -----------------------------------------------------------------------------------------
cmd_run() {
	[[ ${1:-} == -- ]] && shift
	(($#)) || die "run: no command"
	local m
	m=$(missing)
	if [[ -n $m ]]; then
		log "cannot run a node here:"
		sed 's/^/  /' <<<"$m" >&2
		# Only "not root" cannot be fixed on this machine; the rest is an install away.
		[[ $(id -u) != 0 ]] && exit 77
		exit 1
	fi
	local err
	if ! err=$(unshare --net --mount true 2>&1); then
		# A sandbox without CAP_SYS_ADMIN/CAP_NET_ADMIN: no install can change that.
		log "cannot create network and mount namespaces here (unshare --net --mount: $err)"
		exit 77
	fi
	mkdir -p "$RUNS"
	exec 9>"$KOS_CACHE/node/.lock"
	flock 9 # one run's setup and cleanup at a time (they scan the same namespaces)
	cmd_cleanup
	RUN_NAME=kos-node-$$
	local run=$RUNS/$RUN_NAME
	mkdir -p "$run"
	echo "$$ $(starttime $$)" >"$run/owner"
	trap 'teardown_run "$RUN_NAME"' EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	ip netns add "$RUN_NAME"
	flock -u 9
	ip -n "$RUN_NAME" link set lo up
	ip -n "$RUN_NAME" addr add "$NODE_IP/32" dev lo
	ip -n "$RUN_NAME" addr add "$SERVICE_IP/32" dev lo
	log "network namespace $RUN_NAME (node $NODE_IP, kubernetes Service $SERVICE_IP), state in $run"
	local rc=0 child
	# In the background: bash runs the TERM/INT traps (teardown) only between commands, and
	# `wait` is one it can interrupt.
	KOS_NODE_RUN=$run KOS_NODE_NETNS=$RUN_NAME KOS_NODE_IP=$NODE_IP KOS_K8S_NODE=1 \
		KOS_K8S_BIND_ADDRESS=$SERVICE_IP KOS_K8S_APISERVER_PORT=443 KOS_K8S_SERVICE_CIDR=$SERVICE_CIDR \
		KOS_KAFKA_HOST=$NODE_IP \
		nsenter --net="/run/netns/$RUN_NAME" -- unshare --mount --propagation private -- \
		"$0" _inner "$@" 9>&- &
	child=$!
	wait "$child" || rc=$?
	exit "$rc"
}

# In the namespace, in a private mount namespace: containerd's fixed paths (shim sockets under
# /run/containerd, CNI's cache under /var/lib/cni) become private too, then CMD runs.
cmd_inner() {
	mkdir -p /run/containerd /var/lib/cni
	mount -t tmpfs -o mode=0711 kos-node /run/containerd
	mount -t tmpfs -o mode=0755 kos-node /var/lib/cni
	exec "$@"
}

# --- the node ------------------------------------------------------------------------------------
inside() {
	[[ -n ${KOS_NODE_RUN:-} && -n ${KOS_NODE_NETNS:-} ]] || die "run this inside 'node.sh run'"
	R=$KOS_NODE_RUN
	SOCK=$R/containerd.sock
}

CTR() { ctr --address "$SOCK" -n k8s.io "$@"; }

write_containerd_config() {
	mkdir -p "$R/containerd/root" "$R/containerd/state" "$R/runc" "$R/cni/net.d" "$R/cni/ipam"
	cat >"$R/containerd.toml" <<EOF
version = 2
root = "$R/containerd/root"
state = "$R/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$R/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Negative oom_score_adj is not permitted in this container; no AppArmor, no SELinux.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$R/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$R/cni/net.d"
    max_conf_num = 1
EOF
	# One veth per pod, routes only: pods reach the namespace's addresses, nothing else exists.
	cat >"$R/cni/net.d/10-kos.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kos",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "dataDir": "$R/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
}

# launch NAME CMD...: in the background, log to $R/NAME.log, pid in $R/NAME.pid
launch() {
	local name=$1
	shift
	echo "===== node.sh start $name $(date -Is) =====" >>"$R/$name.log"
	"$@" </dev/null >>"$R/$name.log" 2>&1 &
	echo $! >"$R/$name.pid"
}

wait_for() { # NAME TIMEOUT_S CMD...: until CMD succeeds; fail at once if NAME died
	local name=$1 timeout=$2 pid deadline
	shift 2
	pid=$(<"$R/$name.pid")
	deadline=$(($(now_ms) + timeout * 1000))
	until "$@" >/dev/null 2>&1; do
		if ! alive "$pid" || (($(now_ms) > deadline)); then
			alive "$pid" && log "$name not ready within ${timeout}s" || log "$name exited"
			tail -n 30 "$R/$name.log" | cut -c1-400 >&2
			return 1
		fi
		sleep 0.2
	done
}

make_cgroup_root() { # the parent of every container's cgroup: found and removed by name
	local c
	for c in "${CGROUP_V1[@]}"; do
		[[ -d /sys/fs/cgroup/$c ]] || continue
		mkdir -p "/sys/fs/cgroup/$c/$KOS_NODE_NETNS"
		if [[ $c == cpuset ]]; then
			cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$KOS_NODE_NETNS/cpuset.cpus"
			cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$KOS_NODE_NETNS/cpuset.mems"
		fi
	done
}

write_kubelet_config() { # KUBECONFIG
	mkdir -p "$R/kubelet" "$R/pod-logs"
	: >"$R/resolv.conf" # pods resolve nothing: every address in the tests is an IP
	cat >"$R/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine: cgroup v1 (hybrid), no systemd, root in a container without CAP_SYS_RESOURCE.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
cgroupRoot: /$KOS_NODE_NETNS
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
containerRuntimeEndpoint: unix://$SOCK
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# kube-apiserver (logs, exec) connects without a client certificate; only the namespace sees us.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
podLogsDir: $R/pod-logs
resolvConf: $R/resolv.conf
clusterDomain: cluster.local
maxPods: 40
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
fileCheckFrequency: 60s
shutdownGracePeriod: 0s
EOF
}

cmd_start() {
	inside
	local kc=${1:?usage: node.sh start KUBECONFIG} t0
	[[ -f $kc ]] || die "no kubeconfig $kc"
	t0=$(now_ms)
	write_containerd_config
	launch containerd containerd --config "$R/containerd.toml" --log-level warn
	wait_for containerd 30 CTR version || die "containerd did not start (log $R/containerd.log)"
	log "containerd ready ($(($(now_ms) - t0)) ms)"
	local tars=("$KOS_CACHE/image/pause.tar")
	[[ -f ${tars[0]} ]] || die "${tars[0]} missing: scripts/build-image.sh --pause"
	cmd_import "${tars[@]}"
	make_cgroup_root
	write_kubelet_config "$kc"
	launch kubelet "$BIN/kubelet" --config="$R/kubelet.yaml" --kubeconfig="$kc" \
		--root-dir="$R/kubelet" --cert-dir="$R/kubelet/pki" --node-ip="$NODE_IP" \
		--hostname-override="$NODE_NAME" --v=1
	local kubectl=$BIN/kubectl
	wait_for kubelet 90 node_ready "$kubectl" "$kc" ||
		die "node $NODE_NAME not Ready (kubelet log $R/kubelet.log)"
	start_watcher
	log "node $NODE_NAME Ready at $NODE_IP in $(($(now_ms) - t0)) ms"
}

node_ready() { # KUBECTL KUBECONFIG
	[[ $("$1" --kubeconfig="$2" get node "$NODE_NAME" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# Stops the node when KOS_NODE_OWNER_PID (the test) dies without calling stop.
start_watcher() {
	local owner=${KOS_NODE_OWNER_PID:-}
	[[ -n $owner ]] || return 0
	(
		trap 'exit 0' TERM
		while alive "$owner" && [[ -f $R/kubelet.pid ]]; do sleep 1; done
		[[ -f $R/kubelet.pid ]] && "$0" stop
	) </dev/null >/dev/null 2>&1 &
	echo $! >"$R/watcher.pid"
}

stop_pid() { # NAME: SIGTERM, SIGKILL after STOP_TIMEOUT_S
	local name=$1 pid i
	[[ -f $R/$name.pid ]] || return 0
	pid=$(<"$R/$name.pid")
	rm -f "$R/$name.pid"
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	log "$name (pid $pid) ignored SIGTERM; SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
	inside
	stop_pid kubelet
	kill_containers "$R" "$KOS_NODE_NETNS"
	stop_pid containerd
	# The shims of the deleted containers (they outlive containerd): ours by their -address.
	local p cmd
	# (set -e: a kill of a process that exited meanwhile must not end the stop half-way)
	for p in /proc/[0-9]*; do
		cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
		if [[ $cmd == *containerd-shim*"$SOCK"* ]]; then kill -KILL "${p#/proc/}" 2>/dev/null || true; fi
	done
	unmount_under "$R"
	if [[ -f $R/watcher.pid ]]; then
		p=$(<"$R/watcher.pid")
		rm -f "$R/watcher.pid"
		if [[ $p != "${BASHPID:-$$}" ]]; then kill -TERM "$p" 2>/dev/null || true; fi
	fi
	log "node stopped"
	return 0
}

cmd_import() {
	inside
	local t
	for t in "$@"; do
		[[ -f $t ]] || die "no image archive $t"
		CTR images import "$t" >/dev/null || die "importing $t failed"
	done
}

[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0 # sourced (debugging): functions only
sub=${1:-}
shift || true
case $sub in
run) cmd_run "$@" ;;
_inner) cmd_inner "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop ;;
import) cmd_import "$@" ;;
ctr)
	inside
	CTR "$@"
	;;
cleanup)
	mkdir -p "$KOS_CACHE/node"
	exec 9>"$KOS_CACHE/node/.lock"
	flock 9
	cmd_cleanup
	;;
check) cmd_check ;;
*)
	sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
