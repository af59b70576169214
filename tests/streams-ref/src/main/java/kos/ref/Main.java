package kos.ref;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.LogAndSkipOnInvalidTimestamp;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;

/**
 * kos-streams-ref: the original topology on Kafka Streams, as a reference for kos-processor.
 * stdout: one line "ready" once the app is RUNNING. stderr: "stats in=N out=N ..." once per second,
 * Kafka's WARN/ERROR log lines (slf4j-simple), and one last stats line at shutdown.
 */
public final class Main {
    static final String USAGE = String.join("\n",
            "usage: kos.ref.Main [options]",
            "  --bootstrap B      bootstrap servers (default: $KAFKA_BROKERS, else 127.0.0.1:9092)",
            "  --app-id ID        application.id = consumer group (default KINGOFSCALING-APP-REF)",
            "  --rq T             request topic (default GAME-FRAME-RQ)",
            "  --rs T             response topic (default GAME-FRAME-RS)",
            "  --out T            output topic (default SESSIONS)",
            "  --window-ms N      join time difference (default 3000)",
            "  --grace-ms N       join grace period (default 0); join stores keep 2*window+grace of stream time",
            "  --commit-ms N      commit.interval.ms (default 100, like the original)",
            "  --cache-bytes N    statestore.cache.max.bytes (default 10485760 = Kafka's default, as the",
            "                     original ran; 0 = emit every session update)",
            "  --eos              processing.guarantee=exactly_once_v2 (default at_least_once)",
            "  --threads N        num.stream.threads (default 1, like the original)",
            "  --in-memory        in-memory state stores instead of RocksDB",
            "  --state-dir D      state.dir (default: a fresh temp dir, deleted at exit)",
            "  -X key=value       any other Streams/consumer/producer property (repeatable)",
            "  --help");

    private static final java.util.Set<String> VALUE_FLAGS = java.util.Set.of("--bootstrap", "--app-id", "--rq",
            "--rs", "--out", "--window-ms", "--grace-ms", "--commit-ms", "--cache-bytes", "--threads", "--state-dir", "-X");

    private Main() {}

    private static long num(String flag, String v) {
        try {
            long n = Long.parseLong(v);
            if (n < 0) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + ": not a non-negative integer: " + v);
        }
    }

    public static void main(String[] args) throws Exception {
        RefTopology.Options opt = new RefTopology.Options();
        String env = System.getenv("KAFKA_BROKERS");
        String bootstrap = env != null && !env.isEmpty() ? env : "127.0.0.1:9092";
        String appId = "KINGOFSCALING-APP-REF";
        long commitMs = 100, cacheBytes = 10L * 1024 * 1024, threads = 1;
        boolean eos = false, inMemory = false;
        String stateDirArg = null;
        Properties extra = new Properties();
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--help") || a.equals("-h")) {
                    System.out.println(USAGE);
                    return;
                }
                if (a.equals("--eos")) { eos = true; continue; }
                if (a.equals("--in-memory")) { inMemory = true; continue; }
                if (!VALUE_FLAGS.contains(a)) throw new IllegalArgumentException("unknown option: " + a);
                if (i + 1 >= args.length) throw new IllegalArgumentException(a + ": missing value");
                String v = args[++i];
                switch (a) {
                    case "--bootstrap": bootstrap = v; break;
                    case "--app-id": appId = v; break;
                    case "--rq": opt.rqTopic = v; break;
                    case "--rs": opt.rsTopic = v; break;
                    case "--out": opt.outTopic = v; break;
                    case "--window-ms": opt.windowMs = num(a, v); break;
                    case "--grace-ms": opt.graceMs = num(a, v); break;
                    case "--commit-ms": commitMs = num(a, v); break;
                    case "--cache-bytes": cacheBytes = num(a, v); break;
                    case "--threads": threads = num(a, v); break;
                    case "--state-dir": stateDirArg = v; break;
                    case "-X": {
                        int eq = v.indexOf('=');
                        if (eq <= 0) throw new IllegalArgumentException("-X: expected key=value: " + v);
                        extra.setProperty(v.substring(0, eq), v.substring(eq + 1));
                        break;
                    }
                    default: throw new IllegalArgumentException("unknown option: " + a);
                }
            }
            if (threads < 1) throw new IllegalArgumentException("--threads: must be at least 1");
            if (bootstrap.isEmpty()) throw new IllegalArgumentException("--bootstrap: empty");
        } catch (IllegalArgumentException e) {
            System.err.println("kos-streams-ref: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }

        Path stateDir = stateDirArg != null ? Path.of(stateDirArg) : Files.createTempDirectory("kos-streams-ref-");
        boolean ownStateDir = stateDirArg == null;

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, (int) threads);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, eos ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, cacheBytes);
        // A record that is not a valid body is dropped (logged at WARN, counted in dropped-records-total)
        // instead of killing the app; so is a record with an invalid (negative) timestamp.
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
        p.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, LogAndSkipOnInvalidTimestamp.class);
        if (inMemory)
            p.put(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG, BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class);
        p.putAll(extra);

        RefTopology.Counters counters = new RefTopology.Counters();
        KafkaStreams streams = new KafkaStreams(RefTopology.build(opt, counters), p);

        PrintStream out = System.out;
        PrintStream err = System.err;
        AtomicBoolean ready = new AtomicBoolean();
        AtomicBoolean stopping = new AtomicBoolean();
        CountDownLatch failed = new CountDownLatch(1);
        streams.setStateListener((newState, oldState) -> {
            if (newState == KafkaStreams.State.RUNNING && ready.compareAndSet(false, true)) {
                out.println("ready");
                out.flush();
            }
            if (newState == KafkaStreams.State.ERROR
                    || (newState == KafkaStreams.State.NOT_RUNNING && !stopping.get()))
                failed.countDown();
        });
        streams.setUncaughtExceptionHandler(e -> {
            err.println("kos-streams-ref: fatal: " + e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

        Thread stats = new Thread(() -> {
            try {
                while (true) {
                    Thread.sleep(1000);
                    err.println(statsLine(streams, counters));
                }
            } catch (InterruptedException e) {
                // exit
            }
        }, "kos-ref-stats");
        stats.setDaemon(true);

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping.set(true);
            stats.interrupt();
            boolean closed = streams.close(Duration.ofSeconds(60));
            err.println(statsLine(streams, counters) + " final" + (closed ? "" : " (close timed out)"));
            err.flush();
            if (ownStateDir) deleteTree(stateDir);
        }, "kos-ref-shutdown"));

        streams.start();
        stats.start();
        failed.await();
        err.println("kos-streams-ref: stream processing stopped in state " + streams.state());
        System.exit(1);
    }

    /** "stats in=N out=N joined=N hits=N bad_hits=N dropped=N state=S". in and out are the topology's counters. */
    static String statsLine(KafkaStreams streams, RefTopology.Counters c) {
        double dropped = 0;
        try {
            for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
                MetricName n = e.getKey();
                if (n.name().equals("dropped-records-total") && n.group().equals("stream-task-metrics")) {
                    Object v = e.getValue().metricValue();
                    if (v instanceof Number) dropped += ((Number) v).doubleValue();
                }
            }
        } catch (RuntimeException e) {
            // metrics may be unavailable while closing
        }
        return String.format("stats in=%d out=%d joined=%d hits=%d bad_hits=%d dropped=%d state=%s",
                c.in.sum(), c.out.sum(), c.joined.sum(), c.hits.sum(), c.badHits.sum(), (long) dropped, streams.state());
    }

    static void deleteTree(Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                    Files.deleteIfExists(f);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            System.err.println("kos-streams-ref: could not delete " + root + ": " + e);
        }
    }
}
