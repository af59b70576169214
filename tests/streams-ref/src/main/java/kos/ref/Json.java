package kos.ref;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * JSON of the records (common/frame.h), with Jackson. Writers produce exactly the bytes that
 * common/frame.c writes (field order, no spaces, null for an absent doubleKey/direction). The body
 * parser is as strict as kos_body_parse: an object with "approval" (boolean or null) and "bytes" (an
 * array of at most 10000 strings), no duplicate fields, no trailing data, at most 1 MiB; unknown
 * fields are ignored. A body that fails is a deserialization error, which the app's
 * LogAndContinueExceptionHandler drops (and Streams counts in dropped-records-total).
 */
public final class Json {
    public static final int FRAME_JSON_MAX = 1024 * 1024;
    public static final int BODY_MAX_BYTES = 10000;

    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    private static final JsonFactory FACTORY = MAPPER.getFactory();

    private Json() {}

    // ---- FrameBody ------------------------------------------------------------------------------

    public static FrameBody parseBody(byte[] data) {
        if (data.length > FRAME_JSON_MAX)
            throw new SerializationException("body: " + data.length + " bytes, more than the " + FRAME_JSON_MAX + " allowed");
        JsonNode root;
        try {
            root = MAPPER.readTree(data);
        } catch (IOException e) {
            throw new SerializationException("body: invalid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new SerializationException("body: not a JSON object");
        JsonNode approval = root.get("approval");
        JsonNode bytes = root.get("bytes");
        if (approval == null) throw new SerializationException("body: missing field approval");
        if (!approval.isBoolean() && !approval.isNull())
            throw new SerializationException("body: approval is not a boolean or null");
        if (bytes == null) throw new SerializationException("body: missing field bytes");
        if (!bytes.isArray()) throw new SerializationException("body: bytes is not an array");
        if (bytes.size() > BODY_MAX_BYTES)
            throw new SerializationException("body: bytes has more than " + BODY_MAX_BYTES + " elements");
        List<String> strings = new ArrayList<>(bytes.size());
        for (JsonNode s : bytes) {
            if (!s.isTextual()) throw new SerializationException("body: bytes has an element that is not a string");
            strings.add(s.textValue());
        }
        return new FrameBody(approval.isNull() ? null : approval.booleanValue(), strings);
    }

    public static byte[] writeBody(FrameBody b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(32 + 24 * b.bytes.size());
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.writeStartObject();
            g.writeFieldName("approval");
            if (b.approval == null) g.writeNull(); else g.writeBoolean(b.approval);
            g.writeArrayFieldStart("bytes");
            for (String s : b.bytes) g.writeString(s);
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    // ---- Hit and GameSession --------------------------------------------------------------------

    private static void writeNullable(JsonGenerator g, String name, String v) throws IOException {
        g.writeFieldName(name);
        if (v == null) g.writeNull(); else g.writeString(v);
    }

    private static void writeHit(JsonGenerator g, Hit h) throws IOException {
        g.writeStartObject();
        g.writeNumberField("impact", h.impact);
        g.writeStringField("key", h.key);
        writeNullable(g, "doubleKey", h.doubleKey);
        writeNullable(g, "direction", h.direction);
        g.writeStringField("impactType", h.impactType);
        g.writeStringField("level", h.level);
        g.writeStringField("game", h.game);
        g.writeEndObject();
    }

    static String hitToString(Hit h) {
        StringWriter w = new StringWriter();
        try (JsonGenerator g = FACTORY.createGenerator(w)) {
            writeHit(g, h);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return w.toString();
    }

    public static byte[] writeSession(GameSession s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 + 128 * s.hits.size());
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.writeStartObject();
            g.writeArrayFieldStart("hits");
            for (Hit h : s.hits) writeHit(g, h);
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static String text(JsonNode o, String field, boolean nullable) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            if (nullable) return null;
            throw new SerializationException("hit: missing field " + field);
        }
        if (!v.isTextual()) throw new SerializationException("hit: " + field + " is not a string");
        return v.textValue();
    }

    private static Hit hitFromNode(JsonNode o) {
        if (!o.isObject()) throw new SerializationException("hit: not an object");
        JsonNode impact = o.get("impact");
        if (impact == null || !impact.isIntegralNumber()) throw new SerializationException("hit: impact is not an integer");
        return new Hit(impact.intValue(), text(o, "key", false), text(o, "doubleKey", true),
                text(o, "direction", true), text(o, "impactType", false), text(o, "level", false),
                text(o, "game", false));
    }

    public static GameSession parseSession(byte[] data) {
        JsonNode root;
        try {
            root = MAPPER.readTree(data);
        } catch (IOException e) {
            throw new SerializationException("session: invalid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject() || !root.path("hits").isArray())
            throw new SerializationException("session: not {\"hits\":[...]}");
        GameSession s = new GameSession();
        for (JsonNode h : root.get("hits")) s.append(hitFromNode(h));
        return s;
    }

    public static Hit parseHit(byte[] data) {
        try {
            return hitFromNode(MAPPER.readTree(data));
        } catch (IOException e) {
            throw new SerializationException("hit: invalid JSON: " + e.getMessage(), e);
        }
    }

    // ---- Serdes ---------------------------------------------------------------------------------

    /** Body serde; if {@code counted} is non-null it counts every record handed to the deserializer. */
    public static Serde<FrameBody> bodySerde(LongAdder counted) {
        Serializer<FrameBody> ser = (topic, b) -> b == null ? null : writeBody(b);
        Deserializer<FrameBody> de = (topic, data) -> {
            if (counted != null) counted.increment();
            return data == null ? null : parseBody(data);
        };
        return Serdes.serdeFrom(ser, de);
    }

    public static Serde<GameSession> sessionSerde() {
        Serializer<GameSession> ser = (topic, s) -> s == null ? null : writeSession(s);
        Deserializer<GameSession> de = (topic, data) -> data == null ? null : parseSession(data);
        return Serdes.serdeFrom(ser, de);
    }

    public static Serde<Hit> hitSerde() {
        Serializer<Hit> ser = (topic, h) -> h == null ? null : hitToString(h).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        Deserializer<Hit> de = (topic, data) -> data == null ? null : parseHit(data);
        return Serdes.serdeFrom(ser, de);
    }
}
