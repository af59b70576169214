#!/usr/bin/env bash
# Builds (once) and runs kos-streams-ref, the Kafka Streams reference of the original topology.
# Usage: run.sh --build-only | run.sh [kos.ref.Main options...]   (run.sh --help lists them)
# The build is skipped while target/kos-streams-ref.jar is newer than pom.xml and src/.
# Maven's repository cache stays where Maven keeps it (~/.m2, or MAVEN_OPTS/-Dmaven.repo.local).
# env: KOS_REF_HEAP (default 1g) = -Xmx; KOS_REF_JAVA_OPTS = more JVM options; JAVA_HOME.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
JAR=target/kos-streams-ref.jar
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

stale() {
	[[ ! -f $JAR || ! -d target/libs || ! -f target/libs/.complete ]] && return 0
	[[ -n $(find pom.xml src -newer "$JAR" -print -quit) ]]
}

build() {
	mkdir -p target
	# Concurrent runs (a test and a benchmark started together) build once; the others wait.
	exec 8>target/.build.lock
	flock 8
	if stale; then
		echo "run.sh: building kos-streams-ref (mvn package) ..." >&2
		rm -rf target/libs
		# (Maven 3.8 prints ANSI resets even in batch mode; sed drops them.)
		mvn -B -q -DskipTests package 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
		touch target/libs/.complete "$JAR"
	fi
	exec 8>&-
}

if stale; then build; fi
if [[ ${1:-} == --build-only ]]; then
	exit 0
fi
# shellcheck disable=SC2086 # KOS_REF_JAVA_OPTS is a list of options
exec "$JAVA" -Xmx"${KOS_REF_HEAP:-1g}" ${KOS_REF_JAVA_OPTS:-} -cp "$HERE/target/classes:$HERE/target/libs/*" kos.ref.Main "$@"
