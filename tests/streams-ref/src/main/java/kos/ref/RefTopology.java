package kos.ref;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.StreamJoined;

/**
 * The original kos-streams topology (xke-kingof-scaling, https://github.com/DivLoic/xke-kingof-scaling):
 * <pre>
 *   GAME-FRAME-RQ ─┐
 *                  ├─ inner join, equal key bytes, |ts_rq - ts_rs| &lt;= window (either order), joiner keeps the request body
 *   GAME-FRAME-RS ─┘
 *     → flatMapValues(decode every hex string; undecodable strings dropped)
 *     → groupByKey → aggregate(empty session, append hit)
 *     → toStream → SESSIONS
 * </pre>
 * Keys are the FrameHeader JSON as raw bytes (never re-encoded), so equal headers join and SESSIONS keys
 * are byte-identical to the input keys. No key changes, so there is no repartition topic.
 */
public final class RefTopology {
    /** Counters the app prints once per second; LongAdder so any number of stream threads may add. */
    public static final class Counters {
        /** records handed to the source value deserializers of RQ and RS (good or not) */
        public final LongAdder in = new LongAdder();
        /** joined pairs emitted by the join */
        public final LongAdder joined = new LongAdder();
        /** hex strings decoded into hits */
        public final LongAdder hits = new LongAdder();
        /** hex strings that were not hits (dropped) */
        public final LongAdder badHits = new LongAdder();
        /** session updates handed to the SESSIONS sink */
        public final LongAdder out = new LongAdder();
    }

    public static final class Options {
        public String rqTopic = "GAME-FRAME-RQ";
        public String rsTopic = "GAME-FRAME-RS";
        public String outTopic = "SESSIONS";
        public long windowMs = 3000;
        public long graceMs = 0;
    }

    private RefTopology() {}

    public static Topology build(Options o, Counters c) {
        Serde<Bytes> keySerde = Serdes.Bytes();
        Serde<FrameBody> storeBodySerde = Json.bodySerde(null);
        Serde<GameSession> sessionSerde = Json.sessionSerde();

        StreamsBuilder builder = new StreamsBuilder();
        KStream<Bytes, FrameBody> requests = builder.stream(o.rqTopic, Consumed.with(keySerde, Json.bodySerde(c.in)));
        KStream<Bytes, FrameBody> responses = builder.stream(o.rsTopic, Consumed.with(keySerde, Json.bodySerde(c.in)));

        JoinWindows window = JoinWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(o.windowMs), Duration.ofMillis(o.graceMs));
        KStream<Bytes, FrameBody> joined = requests.join(responses,
                (request, response) -> request,
                window,
                StreamJoined.with(keySerde, storeBodySerde, storeBodySerde));

        joined.flatMapValues(body -> {
                    c.joined.increment();
                    List<Hit> hits = new ArrayList<>(body.bytes.size());
                    for (String s : body.bytes) {
                        Hit h = HitDecoder.decodeHex(s);
                        if (h != null) hits.add(h);
                    }
                    c.hits.add(hits.size());
                    c.badHits.add(body.bytes.size() - hits.size());
                    return hits;
                })
                .groupByKey(Grouped.with(keySerde, Json.hitSerde()))
                .aggregate(GameSession::new,
                        (key, hit, session) -> new GameSession(session.hits).append(hit),
                        Materialized.with(keySerde, sessionSerde))
                .toStream()
                .peek((k, v) -> c.out.increment())
                .to(o.outTopic, Produced.with(keySerde, sessionSerde));
        return builder.build();
    }
}
