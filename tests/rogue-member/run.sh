#!/usr/bin/env bash
# Builds (once) and runs the rogue consumer-group member of the security tests
# (src/kos/rogue/RogueMember.java; run.sh --help lists its options).
# Usage: run.sh --build-only | run.sh [kos.rogue.RogueMember options...]
# It compiles against the Kafka 4.3.1 jars the test harness already fetched from Maven Central
# (tests/harness/kafka.sh install: kafka-clients is among them), so no second Maven resolution;
# the build is skipped while target/.built is newer than src/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA_SH=$HERE/../harness/kafka.sh
OUT=$HERE/target
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
JAVAC=${JAVA_HOME:+$JAVA_HOME/bin/}javac
LIBS=$("$KAFKA_SH" libs)

stale() {
	[[ ! -f $OUT/.built ]] && return 0
	[[ -n $(find "$HERE/src" -newer "$OUT/.built" -print -quit) ]]
}

build() {
	mkdir -p "$OUT"
	# Parallel runs build once; the others wait for it.
	exec 8>"$OUT/.build.lock"
	flock 8
	if stale; then
		echo "run.sh: compiling the rogue member" >&2
		rm -rf "$OUT/classes"
		"$JAVAC" -nowarn -d "$OUT/classes" -cp "$LIBS/*" $(find "$HERE/src" -name '*.java')
		touch "$OUT/.built"
	fi
	exec 8>&-
}

if stale; then build; fi
if [[ ${1:-} == --build-only ]]; then
	exit 0
fi
exec "$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
	"-Dlog4j2.configurationFile=$HERE/../harness/kafka/tools-log4j2.properties" \
	-cp "$OUT/classes:$LIBS/*" kos.rogue.RogueMember "$@"
