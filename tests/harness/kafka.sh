#!/usr/bin/env bash
# Runs a real single-node KRaft Apache Kafka broker (jars from Maven Central) for kos tests,
# bound to 127.0.0.1 only, plus the Kafka CLI tools from the same jars. No Docker, no tarball.
# Usage: kafka.sh install | libs | start DIR | stop DIR | tool MAINCLASS ARGS... | cgc ARGS... | topics ARGS...
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
# test's own network namespace, where pods reach it.
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
                                             prints the bootstrap address, also in DIR/bootstrap
       kafka.sh stop DIR                     stop that broker (SIGTERM, SIGKILL after 20 s)
       kafka.sh tool MAINCLASS ARGS...       run a Kafka CLI tool class
       kafka.sh cgc ARGS...                  kafka-consumer-groups (ConsumerGroupCommand)
       kafka.sh topics ARGS...               kafka-topics (TopicCommand)
env:   KOS_CACHE, JAVA_HOME, KAFKA_OWNER_PID (start: stop the broker when this pid exits),
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

render_config() {
	local dir=$1 bport=$2 cport=$3 t
	t=$(<"$CONF/server.properties.in")
	t=${t//@BROKER_PORT@/$bport}
	t=${t//@BROKER_HOST@/$BROKER_HOST}
	t=${t//@CONTROLLER_PORT@/$cport}
	t=${t//@DATA_DIR@/$dir/data}
	printf '%s\n' "$t" >"$dir/server.properties"
}

cmd_start() {
	[[ $# -eq 1 ]] || usage
	local dir pid bport cport bootstrap log_off t0
	mkdir -p "$1"
	dir=$(cd "$1" && pwd -P)
	cmd_install
	if pid=$(broker_pid "$dir"); then
		log "broker already running in $dir (pid $pid)"
		cat "$dir/bootstrap"
		return 0
	fi
	t0=$EPOCHREALTIME
	# Ports are chosen once per DIR: a restarted broker must come back at the same address.
	if [[ -f $dir/ports ]]; then
		read -r bport cport <"$dir/ports"
	else
		read -r bport cport < <("$PY" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')
		[[ $bport =~ ^[0-9]+$ && $cport =~ ^[0-9]+$ ]] || die "could not pick free ports with $PY"
		echo "$bport $cport" >"$dir/ports"
	fi
	bootstrap=$BROKER_HOST:$bport
	render_config "$dir" "$bport" "$cport"

	if [[ ! -f $dir/data/meta.properties ]]; then
		local cid
		[[ -f $dir/cluster-id ]] || "$PY" -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):  # Kafka avoids ids that look like CLI options, so do we
        print(s)
        break
' >"$dir/cluster-id"
		cid=$(<"$dir/cluster-id")
		tool_jvm_opts
		if ! "$JAVA" "${TOOL_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
			-t "$cid" -c "$dir/server.properties" --ignore-formatted >"$dir/format.log" 2>&1; then
			cat "$dir/format.log" >&2
			die "StorageTool format failed (config $dir/server.properties)"
		fi
	fi

	touch "$dir/broker.log"
	# Only log lines of this run count for readiness; earlier runs stay in the file for debugging.
	log_off=$(stat -c %s "$dir/broker.log")
	echo "===== kafka.sh start $(date -Is) =====" >>"$dir/broker.log"
	"$JAVA" -Xms256m -Xmx1g -XX:+UseSerialGC -Djava.awt.headless=true \
		"-Dkafka.logs.dir=$dir" "-Dlog4j2.configurationFile=$CONF/log4j2.properties" \
		-cp "$LIBS/*" kafka.Kafka "$dir/server.properties" </dev/null >>"$dir/broker.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/pid"
	echo "$bootstrap" >"$dir/bootstrap"

	if [[ -n ${KAFKA_OWNER_PID:-} ]]; then
		# A test killed hard (ctest timeout, SIGKILL) cannot run its cleanup; this watcher stops
		# the broker once the owner is gone so no JVM outlives the test run.
		(
			while alive "$KAFKA_OWNER_PID" && is_broker_of "$pid" "$dir"; do sleep 1; done
			if is_broker_of "$pid" "$dir"; then stop_pid "$pid" "$dir"; fi
		) </dev/null >/dev/null 2>&1 &
	fi

	local started=0 next_note=$((SECONDS + 3)) deadline=$((SECONDS + START_TIMEOUT_S))
	while :; do
		if ! alive "$pid"; then
			show_failure "$dir" "$log_off"
			die "broker exited during startup; log: $dir/broker.log"
		fi
		if ((!started)) && tail -c +$((log_off + 1)) "$dir/broker.log" |
			grep -q 'Kafka Server started'; then
			started=1
		fi
		if ((started)) && kcat -b "$bootstrap" -L -m 2 >/dev/null 2>&1; then
			break
		fi
		if ((SECONDS >= deadline)); then
			show_failure "$dir" "$log_off"
			stop_pid "$pid" "$dir" || true
			die "broker not ready within ${START_TIMEOUT_S}s; log: $dir/broker.log"
		fi
		if ((SECONDS >= next_note)); then
			log ". waiting for broker at $bootstrap"
			next_note=$((SECONDS + 3))
		fi
		sleep 0.2
	done
	local ms=$(((${EPOCHREALTIME//[.,]/} - ${t0//[.,]/}) / 1000))
	log "broker ready at $bootstrap (pid $pid) in $((ms / 1000)).$(printf %03d $((ms % 1000))) s"
	echo "$bootstrap"
}

cmd_stop() {
	[[ $# -eq 1 ]] || usage
	local dir pid
	[[ -d $1 ]] || return 0
	dir=$(cd "$1" && pwd -P)
	if pid=$(broker_pid "$dir"); then
		stop_pid "$pid" "$dir"
		log "broker stopped (pid $pid)"
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
tool) cmd_tool "$@" ;;
cgc) cmd_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@" ;;
topics) cmd_tool org.apache.kafka.tools.TopicCommand "$@" ;;
-h | --help | help) usage ;;
*)
	log "unknown command '$sub'"
	usage
	;;
esac
