/* libFuzzer target for the record surface shared by kos-datagen and kos-processor: the binary
 * and hex hit decoders and the header/body JSON parsers, with their invariants asserted
 * (whatever decodes re-encodes to the same bytes; whatever parses re-encodes to JSON that
 * parses to the same thing). The input goes to every decoder as is. */
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define FUZZ_ASSERT(x)                                                                             \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_hits(const uint8_t *data, size_t size)
{
        kos_hit_t h;
        if (kos_hit_decode(data, size, &h) == KOS_HIT_OK) {
                /* The binary format has one encoding per hit. */
                uint8_t bin[KOS_HIT_BIN_MAX];
                FUZZ_ASSERT(kos_hit_encode(&h, bin) == size);
                FUZZ_ASSERT(memcmp(bin, data, size) == 0);
                char js[KOS_HIT_JSON_MAX];
                size_t n = kos_hit_json(&h, js, sizeof(js));
                FUZZ_ASSERT(n > 0 && n < sizeof(js));
                json_t *doc = json_loadb(js, n, 0, NULL);
                FUZZ_ASSERT(doc && json_is_object(doc));
                json_decref(doc);
        }
        if (kos_hit_decode_hex((const char *)data, size, &h) == KOS_HIT_OK) {
                char hex[KOS_HIT_HEX_MAX + 1];
                FUZZ_ASSERT(kos_hit_encode_hex(&h, hex) == size);
                for (size_t i = 0; i < size; i++)
                        FUZZ_ASSERT(hex[i] == tolower(data[i]));
        }
}

static void fuzz_header(const char *json, size_t size)
{
        kos_frame_header_t h, back;
        char err[256];
        if (kos_header_parse(json, size, &h, err, sizeof(err)) != 0) {
                FUZZ_ASSERT(strncmp(err, "header: ", 8) == 0);
                return;
        }
        char buf[KOS_HEADER_JSON_MAX];
        size_t n = kos_header_json(&h, buf, sizeof(buf));
        FUZZ_ASSERT(n > 0 && n < sizeof(buf));
        FUZZ_ASSERT(kos_header_parse(buf, n, &back, err, sizeof(err)) == 0);
        FUZZ_ASSERT(back.ts == h.ts && back.zone == h.zone);
        FUZZ_ASSERT(strcmp(back.machine, h.machine) == 0);
        /* Canonical bytes are a fixed point. */
        char again[KOS_HEADER_JSON_MAX];
        FUZZ_ASSERT(kos_header_json(&back, again, sizeof(again)) == n);
        FUZZ_ASSERT(memcmp(buf, again, n) == 0);
}

static void fuzz_body(const char *json, size_t size)
{
        kos_frame_body_t b, back;
        char err[256];
        if (kos_body_parse(json, size, &b, err, sizeof(err)) != 0) {
                FUZZ_ASSERT(strncmp(err, "body: ", 6) == 0);
                FUZZ_ASSERT(b.hits == NULL && b.n_hits == 0);
                return;
        }
        FUZZ_ASSERT(b.n_hits + b.n_bad == b.n_strings);
        FUZZ_ASSERT(b.n_strings <= KOS_BODY_MAX_BYTES);
        size_t n = kos_body_json(b.approval, b.hits, b.n_hits, NULL, 0);
        FUZZ_ASSERT(n > 0 && n <= KOS_BODY_JSON_MAX(b.n_hits));
        char *buf = malloc(n + 1);
        FUZZ_ASSERT(kos_body_json(b.approval, b.hits, b.n_hits, buf, n + 1) == n);
        FUZZ_ASSERT(kos_body_parse(buf, n, &back, err, sizeof(err)) == 0);
        FUZZ_ASSERT(back.approval == b.approval && back.n_hits == b.n_hits && back.n_bad == 0);
        FUZZ_ASSERT(b.n_hits == 0 || memcmp(back.hits, b.hits, b.n_hits * sizeof(kos_hit_t)) == 0);
        size_t sn = kos_session_json(b.hits, b.n_hits, NULL, 0);
        char *sess = malloc(sn + 1);
        FUZZ_ASSERT(kos_session_json(b.hits, b.n_hits, sess, sn + 1) == sn);
        json_t *doc = json_loadb(sess, sn, 0, NULL);
        FUZZ_ASSERT(doc && json_array_size(json_object_get(doc, "hits")) == b.n_hits);
        json_decref(doc);
        free(sess);
        free(buf);
        kos_body_clear(&back);
        kos_body_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_hits(data, size);
        fuzz_header((const char *)data, size);
        fuzz_body((const char *)data, size);
        return 0;
}
