#!/usr/bin/env bash
# Runs real KRaft Apache Kafka brokers (jars from Maven Central) for kos tests, bound to
# 127.0.0.1 only: one broker, or a cluster of N broker+controller nodes on loopback; plus the
# Kafka CLI tools from the same jars. No Docker, no tarball.
# Usage: kafka.sh install | libs | start DIR | stop DIR | kill DIR | cluster-start DIR [N]
#        | tool MAINCLASS ARGS... | cgc ARGS... | topics ARGS...
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=$HERE/kafka
POM=$CONF/pom.xml
KOS_CACHE=${KOS_CACHE:-$HOME/.cache/kos}
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
LIBS=$KOS_CACHE/kafka-$KAFKA_VERSION/libs
# Written only after a complete copy; holds the pom's hash so a changed pom refetches.
MARKER=$LIBS/.kos-libs-complete
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
START_TIMEOUT_S=90
STOP_TIMEOUT_S=20
# The clients' listener. Only tests/harness/node.sh changes it: to the node address inside the
# test's own network namespace, where pods reach it (a single broker only).
BROKER_HOST=${KOS_KAFKA_HOST:-127.0.0.1}

log() { echo "kafka.sh: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
usage() {
	cat >&2 <<'EOF'
usage: kafka.sh install                      fetch Kafka jars into $KOS_CACHE (default ~/.cache/kos)
       kafka.sh libs                         install, then print the directory of those jars
       kafka.sh start DIR                    start (or restart) a broker whose state lives in DIR;
                                             prints the bootstrap address, also in DIR/bootstrap.
                                             DIR may be a node of a cluster (DIR/node.env): it
                                             comes back at its address and rejoins the cluster
       kafka.sh stop DIR                     stop that broker (SIGTERM: controlled shutdown,
                                             SIGKILL after 20 s); DIR of a cluster: every node
       kafka.sh kill DIR                     SIGKILL that broker or node (a crash: no controlled
                                             shutdown; the controller fences it after
                                             broker.session.timeout.ms)
       kafka.sh cluster-start DIR [N]        start (or restart) an N-node cluster (default 3) in
                                             DIR/node-1..N: every node broker+controller and a
                                             voter, own ports, log dir and broker.log; internal
                                             and new topics replicated min(N,3) times, with
                                             min.insync.replicas one less; prints the bootstrap
                                             list, also in DIR/bootstrap
       kafka.sh tool MAINCLASS ARGS...       run a Kafka CLI tool class
       kafka.sh cgc ARGS...                  kafka-consumer-groups (ConsumerGroupCommand)
       kafka.sh topics ARGS...               kafka-topics (TopicCommand)
env:   KOS_CACHE, JAVA_HOME, KAFKA_OWNER_PID (start: stop the broker when this pid exits),
       KAFKA_HEAP_OPTS (default -Xms256m -Xmx1g for a single broker, -Xms128m -Xmx512m per node),
       KOS_KAFKA_HOST (client listener address, default 127.0.0.1)
EOF
	exit 2
}

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

cmd_install() {
	local sum
	sum=$(pom_sum)
	[[ -f $MARKER && $(<"$MARKER") == "$sum" ]] && return 0
	mkdir -p "$KOS_CACHE"
	# Parallel test runs may all find the marker missing; one downloads, the others wait.
	exec 9>"$KOS_CACHE/kafka-$KAFKA_VERSION.lock"
	flock 9
	if [[ -f $MARKER && $(<"$MARKER") == "$sum" ]]; then
		exec 9>&-
		return 0
	fi
	log "downloading Kafka $KAFKA_VERSION jars from Maven Central into $LIBS ..."
	local tmp=$LIBS.tmp.$$
	rm -rf "$tmp"
	# Copy into a fresh directory so jars of an older pom never linger on the classpath.
	if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$tmp" >&2; then
		rm -rf "$tmp"
		die "mvn dependency:copy-dependencies failed for $POM"
	fi
	ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 ||
		die "mvn finished but $tmp has no kafka_2.13-$KAFKA_VERSION.jar"
	rm -rf "$LIBS"
	mv "$tmp" "$LIBS"
	echo "$sum" >"$MARKER"
	log "installed $(find "$LIBS" -name '*.jar' | wc -l) jars"
	exec 9>&-
}

# True if PID is a live (not zombie) process. kill -0 succeeds on zombies, and a broker whose
# starter exited is reparented to whatever pid 1 is, which may be slow to reap it.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# True if PID is the broker of DIR; guards against pid reuse before we signal anything.
is_broker_of() {
	local pid=$1 dir=$2 cmd
	alive "$pid" || return 1
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *" kafka.Kafka $dir/server.properties"* ]]
}

broker_pid() {
	local dir=$1 pid
	[[ -f $dir/pid ]] || return 1
	pid=$(<"$dir/pid")
	is_broker_of "$pid" "$dir" && echo "$pid"
}

# Signals PID (broker of DIR) with TERM, then KILL after the grace period.
stop_pid() {
	local pid=$1 dir=$2 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
		is_broker_of "$pid" "$dir" || return 0
		sleep 0.1
	done
	log "broker pid $pid ignored SIGTERM for ${STOP_TIMEOUT_S}s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		is_broker_of "$pid" "$dir" || return 0
		sleep 0.1
	done
	die "broker pid $pid survived SIGKILL"
}

# Prints why a start failed: the broker's ERROR lines of this run (the cause, e.g. a port in
# use) rather than only the tail, which is mostly shutdown noise.
show_failure() {
	local dir=$1 off=$2
	{
		echo "--- ERROR/FATAL lines of this run in $dir/broker.log ---"
		tail -c +$((off + 1)) "$dir/broker.log" | grep -E -A1 '^\[[^]]*\] (ERROR|FATAL) ' |
			head -n 20 | cut -c1-400 || true
		echo "--- last lines ---"
		tail -n 15 "$dir/broker.log" | cut -c1-400
	} >&2
}

tool_jvm_opts() {
	TOOL_OPTS=(-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true
		"-Dlog4j2.configurationFile=$CONF/tools-log4j2.properties")
}

# Node settings of DIR into NODE_ID VOTERS BPORT CPORT REPLICATION MIN_ISR HEAP: a cluster
# node's DIR/node.env (written once by cluster-start), else a single node whose two ports are
# chosen once per DIR. Either way a restarted broker comes back at the same address.
load_node() {
	local dir=$1 k v
	if [[ -f $dir/node.env ]]; then
		NODE_ID='' VOTERS='' BPORT='' CPORT='' REPLICATION='' MIN_ISR=''
		while IFS='=' read -r k v; do
			case $k in
			node_id) NODE_ID=$v ;;
			voters) VOTERS=$v ;;
			broker_port) BPORT=$v ;;
			controller_port) CPORT=$v ;;
			replication) REPLICATION=$v ;;
			min_isr) MIN_ISR=$v ;;
			esac
		done <"$dir/node.env"
		[[ $NODE_ID =~ ^[0-9]+$ && $BPORT =~ ^[0-9]+$ && $CPORT =~ ^[0-9]+$ && -n $VOTERS &&
			$REPLICATION =~ ^[0-9]+$ && $MIN_ISR =~ ^[0-9]+$ ]] || die "bad $dir/node.env"
		[[ -f $dir/cluster-id ]] || die "$dir/node.env without $dir/cluster-id"
		HEAP=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
		return 0
	fi
	if [[ -f $dir/ports ]]; then
		read -r BPORT CPORT <"$dir/ports"
	else
		read -r BPORT CPORT < <(free_ports 2)
		echo "$BPORT $CPORT" >"$dir/ports"
	fi
	[[ $BPORT =~ ^[0-9]+$ && $CPORT =~ ^[0-9]+$ ]] || die "bad ports in $dir/ports"
	NODE_ID=1 VOTERS=1@127.0.0.1:$CPORT REPLICATION=1 MIN_ISR=1
	HEAP=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
}

free_ports() { # N: prints N distinct loopback ports that were free a moment ago
	local out
	out=$("$PY" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
' "$1") || die "could not pick free ports with $PY"
	[[ $out =~ ^[0-9\ ]+$ ]] || die "could not pick free ports with $PY: $out"
	echo "$out"
}

new_cluster_id() {
	"$PY" -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):  # Kafka avoids ids that look like CLI options, so do we
        print(s)
        break
'
}

render_config() {
	local dir=$1 t
	t=$(<"$CONF/server.properties.in")
	t=${t//@NODE_ID@/$NODE_ID}
	t=${t//@VOTERS@/$VOTERS}
	t=${t//@BROKER_PORT@/$BPORT}
	t=${t//@BROKER_HOST@/$BROKER_HOST}
	t=${t//@CONTROLLER_PORT@/$CPORT}
	t=${t//@REPLICATION@/$REPLICATION}
	t=${t//@MIN_ISR@/$MIN_ISR}
	t=${t//@DATA_DIR@/$dir/data}
	printf '%s\n' "$t" >"$dir/server.properties"
}

# Formats (once) and launches the broker of DIR without waiting for it. Sets LAUNCHED_PID (empty
# if it was already running), LOG_OFF (broker.log size before this run) and BOOTSTRAP.
launch_node() {
	local dir=$1 pid
	LAUNCHED_PID='' LOG_OFF=0
	load_node "$dir"
	BOOTSTRAP=$BROKER_HOST:$BPORT
	if pid=$(broker_pid "$dir"); then
		log "broker already running in $dir (pid $pid)"
		return 0
	fi
	render_config "$dir"
	if [[ ! -f $dir/data/meta.properties ]]; then
		[[ -f $dir/cluster-id ]] || new_cluster_id >"$dir/cluster-id"
		tool_jvm_opts
		if ! "$JAVA" "${TOOL_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
			-t "$(<"$dir/cluster-id")" -c "$dir/server.properties" --ignore-formatted \
			>"$dir/format.log" 2>&1; then
			cat "$dir/format.log" >&2
			die "StorageTool format failed (config $dir/server.properties)"
		fi
	fi

	touch "$dir/broker.log"
	# Only log lines of this run count for readiness; earlier runs stay in the file for debugging.
	LOG_OFF=$(stat -c %s "$dir/broker.log")
	echo "===== kafka.sh start $(date -Is) =====" >>"$dir/broker.log"
	# shellcheck disable=SC2086 # HEAP is a list of JVM options
	"$JAVA" $HEAP -XX:+UseSerialGC -Djava.awt.headless=true \
		"-Dkafka.logs.dir=$dir" "-Dlog4j2.configurationFile=$CONF/log4j2.properties" \
		-cp "$LIBS/*" kafka.Kafka "$dir/server.properties" </dev/null >>"$dir/broker.log" 2>&1 &
	pid=$!
	LAUNCHED_PID=$pid
	echo "$pid" >"$dir/pid"
	echo "$BOOTSTRAP" >"$dir/bootstrap"

	if [[ -n ${KAFKA_OWNER_PID:-} ]]; then
		# A test killed hard (ctest timeout, SIGKILL) cannot run its cleanup; this watcher stops
		# the broker once the owner is gone so no JVM outlives the test run.
		(
			while alive "$KAFKA_OWNER_PID" && is_broker_of "$pid" "$dir"; do sleep 1; done
			if is_broker_of "$pid" "$dir"; then stop_pid "$pid" "$dir"; fi
		) </dev/null >/dev/null 2>&1 &
	fi
}

# Waits until broker PID of DIR (at BOOTSTRAP) logged "Kafka Server started" in this run (log
# offset OFF) and answers a metadata request; stops it and fails otherwise.
wait_node() {
	local dir=$1 pid=$2 off=$3 bootstrap=$4
	local started=0 next_note=$((SECONDS + 3)) deadline=$((SECONDS + START_TIMEOUT_S))
	while :; do
		if ! alive "$pid"; then
			show_failure "$dir" "$off"
			die "broker exited during startup; log: $dir/broker.log"
		fi
		if ((!started)) && tail -c +$((off + 1)) "$dir/broker.log" |
			grep -q 'Kafka Server started'; then
			started=1
		fi
		if ((started)) && kcat -b "$bootstrap" -L -m 2 >/dev/null 2>&1; then
			return 0
		fi
		if ((SECONDS >= deadline)); then
			show_failure "$dir" "$off"
			stop_pid "$pid" "$dir" || true
			die "broker not ready within ${START_TIMEOUT_S}s; log: $dir/broker.log"
		fi
		if ((SECONDS >= next_note)); then
			log ". waiting for broker at $bootstrap"
			next_note=$((SECONDS + 3))
		fi
		sleep 0.2
	done
}

elapsed() { # T0 (an $EPOCHREALTIME): prints the seconds since, as 1.234
	local ms=$(((${EPOCHREALTIME//[.,]/} - ${1//[.,]/}) / 1000))
	echo "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
}

cmd_start() {
	[[ $# -eq 1 ]] || usage
	local dir t0
	mkdir -p "$1"
	dir=$(cd "$1" && pwd -P)
	[[ ! -f $dir/cluster.env ]] || die "$dir holds a cluster: use cluster-start, or start DIR/node-K"
	cmd_install
	t0=$EPOCHREALTIME
	launch_node "$dir"
	if [[ -n $LAUNCHED_PID ]]; then
		wait_node "$dir" "$LAUNCHED_PID" "$LOG_OFF" "$BOOTSTRAP"
		log "broker ready at $BOOTSTRAP (pid $LAUNCHED_PID) in $(elapsed "$t0") s"
	fi
	echo "$BOOTSTRAP"
}

# Every node is broker and controller, and every node a voter: N JVMs in all (the fewest on a
# 2-core machine), and a quorum that survives any one node stopped (3 nodes: 2 of 3 voters).
cmd_cluster_start() {
	[[ $# -eq 1 || $# -eq 2 ]] || usage
	local n=${2:-3} dir i k t0 have cid voters repl isr ports=()
	[[ $n =~ ^[1-9]$ ]] || die "cluster size must be 1..9, got '$n'"
	mkdir -p "$1"
	dir=$(cd "$1" && pwd -P)
	[[ ! -f $dir/bootstrap || -f $dir/cluster.env ]] || die "$dir holds a single broker"
	cmd_install
	t0=$EPOCHREALTIME
	if [[ -f $dir/cluster.env ]]; then
		have=$(sed -n 's/^nodes=//p' "$dir/cluster.env")
		[[ $have == "$n" ]] || die "$dir holds a cluster of $have nodes, not $n"
	else
		read -r -a ports < <(free_ports $((2 * n)))
		cid=$(new_cluster_id)
		voters=''
		for ((i = 1; i <= n; i++)); do
			voters+=${voters:+,}$i@127.0.0.1:${ports[2 * i - 1]}
		done
		repl=$((n < 3 ? n : 3))
		isr=$((repl > 1 ? repl - 1 : 1))
		for ((i = 1; i <= n; i++)); do
			mkdir -p "$dir/node-$i"
			echo "$cid" >"$dir/node-$i/cluster-id"
			printf '%s\n' "node_id=$i" "voters=$voters" "broker_port=${ports[2 * i - 2]}" \
				"controller_port=${ports[2 * i - 1]}" "replication=$repl" "min_isr=$isr" \
				>"$dir/node-$i/node.env"
		done
		echo "nodes=$n" >"$dir/cluster.env"
	fi
	# All nodes at once: a node's broker starts only once a quorum of controllers is up.
	local pids=() offs=() boots=()
	for ((i = 1; i <= n; i++)); do
		launch_node "$dir/node-$i"
		pids+=("$LAUNCHED_PID")
		offs+=("$LOG_OFF")
		boots+=("$BOOTSTRAP")
	done
	for ((k = 0; k < n; k++)); do
		[[ -n ${pids[k]} ]] || continue
		wait_node "$dir/node-$((k + 1))" "${pids[k]}" "${offs[k]}" "${boots[k]}"
	done
	local bootstrap
	bootstrap=$(
		IFS=,
		echo "${boots[*]}"
	)
	echo "$bootstrap" >"$dir/bootstrap"
	# Every broker registered and unfenced: the metadata lists all N of them.
	local deadline=$((SECONDS + START_TIMEOUT_S)) seen
	while :; do
		seen=$(kcat -b "$bootstrap" -L -m 5 2>/dev/null | sed -n 's/^ *\([0-9]*\) brokers:$/\1/p')
		[[ $seen == "$n" ]] && break
		((SECONDS < deadline)) ||
			die "cluster in $dir: ${seen:-no} of $n brokers in the metadata after ${START_TIMEOUT_S}s"
		sleep 0.2
	done
	log "cluster of $n nodes ready at $bootstrap in $(elapsed "$t0") s"
	echo "$bootstrap"
}

stop_node() {
	local dir=$1 pid
	if pid=$(broker_pid "$dir"); then
		stop_pid "$pid" "$dir"
		log "broker stopped (pid $pid)"
	fi
	rm -f "$dir/pid"
}

cmd_stop() {
	[[ $# -eq 1 ]] || usage
	local dir node rc=0 waits=()
	[[ -d $1 ]] || return 0
	dir=$(cd "$1" && pwd -P)
	if [[ ! -f $dir/cluster.env ]]; then
		stop_node "$dir"
		return 0
	fi
	# All nodes at once: stopped one by one, the last ones would lose their quorum and wait out
	# their controlled shutdown.
	for node in "$dir"/node-*/; do
		stop_node "${node%/}" &
		waits+=($!)
	done
	for node in "${waits[@]}"; do
		wait "$node" || rc=1
	done
	return $rc
}

cmd_kill() {
	[[ $# -eq 1 ]] || usage
	local dir pid i
	[[ -d $1 ]] || return 0
	dir=$(cd "$1" && pwd -P)
	[[ ! -f $dir/cluster.env ]] || die "kill takes one broker or node, not the cluster $dir"
	if pid=$(broker_pid "$dir"); then
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			is_broker_of "$pid" "$dir" || break
			sleep 0.1
		done
		! is_broker_of "$pid" "$dir" || die "broker pid $pid survived SIGKILL"
		log "broker killed (pid $pid)"
	fi
	rm -f "$dir/pid"
}

cmd_tool() {
	[[ $# -ge 1 ]] || usage
	local main=$1
	shift
	cmd_install
	tool_jvm_opts
	exec "$JAVA" "${TOOL_OPTS[@]}" -cp "$LIBS/*" "$main" "$@"
}

[[ $# -ge 1 ]] || usage
sub=$1
shift
case $sub in
install) cmd_install ;;
libs)
	cmd_install
	echo "$LIBS"
	;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
kill) cmd_kill "$@" ;;
cluster-start) cmd_cluster_start "$@" ;;
tool) cmd_tool "$@" ;;
cgc) cmd_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@" ;;
topics) cmd_tool org.apache.kafka.tools.TopicCommand "$@" ;;
-h | --help | help) usage ;;
*)
	log "unknown command '$sub'"
	usage
	;;
esac
