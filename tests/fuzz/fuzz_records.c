/* libFuzzer target for the record path of kos-processor: arbitrary key/value bytes, sides,
 * timestamps and replay flags through the topology (header and body parsing, hit decoding,
 * join buffers, sessions, expiry, coalescing and the session JSON of each emit).
 *
 * Also checks that the canonical fast path of processor/records.c agrees with frame.c's
 * jansson parsers wherever it answers (the whole input is tried as a key and as a value too).
 *
 * Input: a sequence of records, each
 *   flags (1 byte: bit0 side, bit1 replayed, bit2 flush after, bit3 tiny window),
 *   dt (2 bytes, signed little endian: timestamp step), key length (1 byte), key,
 *   value length (2 bytes little endian), value. */
#include "records.h"
#include "topology.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char json[1 << 20];

static void on_emit(void *arg, const kos_session_view_t *s)
{
        size_t *n = arg;
        size_t len = kos_session_json(s->hits, s->n_hits, json, sizeof(json));
        /* Every hit in a session decoded from a body, so it must render. */
        if (s->n_hits && len == 0)
                abort();
        (*n)++;
}

/* Wherever the fast path answers, jansson must agree exactly. */
static void check_equivalence(const uint8_t *data, size_t size)
{
        char why[256];
        kos_frame_header_t h;
        if (kos_rec_header_fast((const char *)data, size) &&
            kos_header_parse((const char *)data, size, &h, why, sizeof(why)) != 0)
                abort();
        kos_rec_body_t fast;
        if (kos_rec_body_fast((const char *)data, size, &fast)) {
                kos_frame_body_t slow;
                if (kos_body_parse((const char *)data, size, &slow, why, sizeof(why)) != 0)
                        abort();
                if (slow.approval != fast.approval || slow.n_strings != fast.n_strings ||
                    slow.n_hits != fast.n_hits || slow.n_bad != fast.n_bad ||
                    (fast.n_hits &&
                     memcmp(slow.hits, fast.hits, fast.n_hits * sizeof(kos_hit_t)) != 0))
                        abort();
                kos_body_clear(&slow);
                kos_rec_body_clear(&fast);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        check_equivalence(data, size);
        size_t emitted = 0;
        kos_topo_conf_t c = {
            .window_ms = 3000, .grace_ms = 1000, .max_session_hits = 64, .coalesce = 0};
        if (size && (data[0] & 8)) {
                c.window_ms = 1;
                c.grace_ms = 0;
                c.coalesce = 1;
        }
        kos_topo_t *t = kos_topo_new(&c, NULL, on_emit, &emitted);
        if (!t)
                return 0;
        int64_t ts = 1700000000000;
        char why[256];
        while (size >= 4) {
                uint8_t flags = data[0];
                int16_t dt = (int16_t)(data[1] | data[2] << 8);
                size_t klen = data[3];
                data += 4;
                size -= 4;
                if (klen > size)
                        break;
                const uint8_t *key = data;
                data += klen;
                size -= klen;
                if (size < 2)
                        break;
                size_t vlen = (size_t)(data[0] | data[1] << 8);
                data += 2;
                size -= 2;
                if (vlen > size)
                        vlen = size;
                const uint8_t *value = data;
                data += vlen;
                size -= vlen;
                ts += dt;
                check_equivalence(key, klen);
                check_equivalence(value, vlen);
                kos_topo_process(t, flags & 1, key, klen, value, vlen, ts, (flags >> 1) & 1, why,
                                 sizeof(why));
                if (flags & 4)
                        kos_topo_flush(t);
        }
        kos_topo_flush(t);
        (void)kos_topo_bytes(t);
        kos_topo_destroy(t);
        return 0;
}
