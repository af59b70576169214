/* common/frame: the binary hit codec (seed test vectors, every discriminator, every failure
 * case), the exact JSON bytes of headers, bodies and sessions, the parsers' rejections, and
 * the Java-compatible murmur2 partitioner that records are keyed with. */
#include "check.h"
#include "frame.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

static kos_hit_err_t dec(const char *hex, kos_hit_t *h)
{
        return kos_hit_decode_hex(hex, strlen(hex), h);
}

static void test_seed_vectors(void)
{
        kos_hit_t h;
        char hex[KOS_HIT_HEX_MAX + 1];

        /* key X, no direction, Missed (0), no doubleKey, NewBie, NeoBlood */
        CHECK_INT(dec("e3001f00d9b5", &h), KOS_HIT_OK);
        CHECK_INT(h.key, KOS_KEY_X);
        CHECK_INT(h.direction, KOS_DIR_NONE);
        CHECK_INT(h.impact_type, KOS_IMPACT_MISSED);
        CHECK_INT(h.impact, 0);
        CHECK_INT(h.double_key, KOS_KEY_NONE);
        CHECK_INT(h.level, KOS_LEVEL_NEWBIE);
        CHECK_INT(h.game, KOS_GAME_NEOBLOOD);
        CHECK_INT(kos_hit_encode_hex(&h, hex), 12);
        CHECK_STR(hex, "e3001f00d9b5");

        /* key O, LEFT, Critical 20, doubleKey O, NewBie, NeoBlood */
        CHECK_INT(dec("c3ff8d4f14ffc3d9b5", &h), KOS_HIT_OK);
        CHECK_INT(h.key, KOS_KEY_O);
        CHECK_INT(h.direction, KOS_DIR_LEFT);
        CHECK_INT(h.impact_type, KOS_IMPACT_CRITICAL);
        CHECK_INT(h.impact, 20);
        CHECK_INT(h.double_key, KOS_KEY_O);
        CHECK_INT(h.level, KOS_LEVEL_NEWBIE);
        CHECK_INT(h.game, KOS_GAME_NEOBLOOD);
        CHECK_INT(kos_hit_encode_hex(&h, hex), 18);
        CHECK_STR(hex, "c3ff8d4f14ffc3d9b5");
        char js[KOS_HIT_JSON_MAX];
        kos_hit_json(&h, js, sizeof(js));
        CHECK_STR(js, "{\"impact\":20,\"key\":\"O\",\"doubleKey\":\"O\",\"direction\":\"LEFT\","
                      "\"impactType\":\"Critical\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"}");

        /* key O, UP, Direct 48, no doubleKey, Inter, HowlingBlood */
        CHECK_INT(dec("c3ff8ab13000e9c5", &h), KOS_HIT_OK);
        CHECK_INT(h.key, KOS_KEY_O);
        CHECK_INT(h.direction, KOS_DIR_UP);
        CHECK_INT(h.impact_type, KOS_IMPACT_DIRECT);
        CHECK_INT(h.impact, 48);
        CHECK_INT(h.double_key, KOS_KEY_NONE);
        CHECK_INT(h.level, KOS_LEVEL_INTER);
        CHECK_INT(h.game, KOS_GAME_HOWLINGBLOOD);
        CHECK_INT(kos_hit_encode_hex(&h, hex), 16);
        CHECK_STR(hex, "c3ff8ab13000e9c5");

        /* Either case, and mixed. */
        kos_hit_t u;
        CHECK_INT(dec("C3FF8AB13000E9C5", &u), KOS_HIT_OK);
        CHECK(memcmp(&u, &h, sizeof(h)) == 0);
        CHECK_INT(dec("c3Ff8aB13000e9C5", &u), KOS_HIT_OK);
        CHECK(memcmp(&u, &h, sizeof(h)) == 0);
}

/* The byte of each discriminator, checked one field at a time against the original's format
 * (the table in common/frame.h). */
static void test_discriminator_bytes(void)
{
        static const struct {
                const char *hex;
                int field, value;
        } cases[] = {
            {"e3001f00f9a5", 'k', KOS_KEY_X},
            {"c3001f00f9a5", 'k', KOS_KEY_O},
            {"e3ff8a1f00f9a5", 'd', KOS_DIR_UP},
            {"e3ff8c1f00f9a5", 'd', KOS_DIR_DOWN},
            {"e3ff8d1f00f9a5", 'd', KOS_DIR_LEFT},
            {"e3ff8e1f00f9a5", 'd', KOS_DIR_RIGHT},
            {"e300722a00f9a5", 'i', KOS_IMPACT_FATAL},
            {"e3004f2a00f9a5", 'i', KOS_IMPACT_CRITICAL},
            {"e300a22a00f9a5", 'i', KOS_IMPACT_SPECIAL},
            {"e300b12a00f9a5", 'i', KOS_IMPACT_DIRECT},
            {"e3001f00f9a5", 'i', KOS_IMPACT_MISSED},
            {"e3001fffe3f9a5", 'D', KOS_KEY_X},
            {"e3001fffc3f9a5", 'D', KOS_KEY_O},
            {"e3001f00f9a5", 'l', KOS_LEVEL_PRO},
            {"e3001f00e9a5", 'l', KOS_LEVEL_INTER},
            {"e3001f00d9a5", 'l', KOS_LEVEL_NEWBIE},
            {"e3001f00f9a5", 'g', KOS_GAME_NEOWAVE},
            {"e3001f00f9b5", 'g', KOS_GAME_NEOBLOOD},
            {"e3001f00f9c5", 'g', KOS_GAME_HOWLINGBLOOD},
            {"e3001f00f9d5", 'g', KOS_GAME_MAXIMUMIMPACT},
            {"e3001f00f9e5", 'g', KOS_GAME_HEATOFBATTLE},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                kos_hit_t h;
                CHECK_INT(dec(cases[i].hex, &h), KOS_HIT_OK);
                int got = cases[i].field == 'k'   ? h.key
                          : cases[i].field == 'd' ? h.direction
                          : cases[i].field == 'i' ? h.impact_type
                          : cases[i].field == 'D' ? h.double_key
                          : cases[i].field == 'l' ? h.level
                                                  : h.game;
                CHECK_INT(got, cases[i].value);
                char hex[KOS_HIT_HEX_MAX + 1];
                kos_hit_encode_hex(&h, hex);
                CHECK_STR(hex, cases[i].hex);
        }
        kos_hit_t h;
        CHECK_INT(dec("e300722a00f9a5", &h), KOS_HIT_OK);
        CHECK_INT(h.impact, 42);
        CHECK_INT(dec("e30072ff00f9a5", &h), KOS_HIT_OK);
        CHECK_INT(h.impact, 255);
}

/* Every combination of fields round-trips, and every strict prefix of its encoding is
 * "truncated", and one byte more is "trailing". */
static void test_all_combinations(void)
{
        int n = 0;
        for (int k = KOS_KEY_X; k < KOS_KEY_COUNT; k++)
                for (int d = 0; d < KOS_DIR_COUNT; d++)
                        for (int i = 0; i < KOS_IMPACT_COUNT; i++)
                                for (int dk = 0; dk < KOS_KEY_COUNT; dk++)
                                        for (int l = 0; l < KOS_LEVEL_COUNT; l++)
                                                for (int g = 0; g < KOS_GAME_COUNT; g++) {
                                                        kos_hit_t h = {.key = (uint8_t)k,
                                                                       .direction = (uint8_t)d,
                                                                       .impact_type = (uint8_t)i,
                                                                       .impact =
                                                                           i == KOS_IMPACT_MISSED
                                                                               ? 0
                                                                               : (uint8_t)(n % 256),
                                                                       .double_key = (uint8_t)dk,
                                                                       .level = (uint8_t)l,
                                                                       .game = (uint8_t)g};
                                                        uint8_t bin[KOS_HIT_BIN_MAX + 1];
                                                        size_t len = kos_hit_encode(&h, bin);
                                                        kos_hit_t o;
                                                        n++;
                                                        if (kos_hit_decode(bin, len, &o) !=
                                                                KOS_HIT_OK ||
                                                            memcmp(&o, &h, sizeof(h)) != 0) {
                                                                CHECK(!"round trip");
                                                                continue;
                                                        }
                                                        for (size_t p = 0; p < len; p++)
                                                                if (kos_hit_decode(bin, p, &o) !=
                                                                    KOS_HIT_ETRUNCATED)
                                                                        CHECK(!"prefix not "
                                                                               "truncated");
                                                        bin[len] = 0xE5;
                                                        if (kos_hit_decode(bin, len + 1, &o) !=
                                                            KOS_HIT_ETRAILING)
                                                                CHECK(!"not trailing");
                                                }
        CHECK_INT(n, 2 * 5 * 5 * 3 * 3 * 5);
}

static void test_decode_errors(void)
{
        kos_hit_t h = {.key = 99};
        CHECK_INT(dec("", &h), KOS_HIT_ETRUNCATED);
        CHECK_INT(h.key, 99); /* untouched on failure */
        CHECK_INT(dec("e3001f00d9", &h), KOS_HIT_ETRUNCATED);
        CHECK_INT(dec("c3ff", &h), KOS_HIT_ETRUNCATED);
        CHECK_INT(dec("c3ff8d4f", &h), KOS_HIT_ETRUNCATED);
        CHECK_INT(dec("e3001f00d9b500", &h), KOS_HIT_ETRAILING);
        CHECK_INT(dec("e3001f00d9b5e3001f00d9b5", &h), KOS_HIT_ETRAILING);
        CHECK_INT(dec("e3001f00d9b", &h), KOS_HIT_EODD);
        CHECK_INT(dec("e", &h), KOS_HIT_EODD);
        CHECK_INT(dec("zz", &h), KOS_HIT_EHEX);
        CHECK_INT(dec("e3001f00d9bg", &h), KOS_HIT_EHEX);
        CHECK_INT(dec(" e3001f00d9b5", &h), KOS_HIT_EHEX);
        CHECK_INT(dec("0xe3001f00d9b5", &h), KOS_HIT_EHEX);
        CHECK_INT(kos_hit_decode_hex("e3001f00\0d9b5", 13, &h), KOS_HIT_EHEX);
        CHECK_INT(dec("00001f00d9b5", &h), KOS_HIT_EKEY);
        CHECK_INT(dec("ff001f00d9b5", &h), KOS_HIT_EKEY);
        CHECK_INT(dec("e3011f00d9b5", &h), KOS_HIT_EDIRECTION);
        CHECK_INT(dec("e3ff8b1f00d9b5", &h), KOS_HIT_EDIRECTION);
        CHECK_INT(dec("e3ff001f00d9b5", &h), KOS_HIT_EDIRECTION);
        CHECK_INT(dec("e3000000d9b5", &h), KOS_HIT_EIMPACT);
        CHECK_INT(dec("e300ff00d9b5", &h), KOS_HIT_EIMPACT);
        CHECK_INT(dec("e3001f01d9b5", &h), KOS_HIT_EDOUBLEKEY);
        CHECK_INT(dec("e3001fff00d9b5", &h), KOS_HIT_EDOUBLEKEY);
        CHECK_INT(dec("e3001f00c9b5", &h), KOS_HIT_ELEVEL);
        CHECK_INT(dec("e3001f00d9b6", &h), KOS_HIT_EGAME);
        /* A long string that starts with a hit is trailing, one with junk later is not hex. */
        char big[4001];
        memset(big, '0', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        memcpy(big, "e3001f00d9b5", 12);
        CHECK_INT(dec(big, &h), KOS_HIT_ETRAILING);
        big[3999] = 'x';
        CHECK_INT(dec(big, &h), KOS_HIT_EHEX);
        for (int e = KOS_HIT_OK; e <= KOS_HIT_EINVALID; e++)
                CHECK(strlen(kos_hit_strerror((kos_hit_err_t)e)) > 0);

        /* Invalid structs are not encoded. */
        uint8_t bin[KOS_HIT_BIN_MAX];
        char hex[KOS_HIT_HEX_MAX + 1];
        kos_hit_t bad = {.key = KOS_KEY_NONE, .impact_type = KOS_IMPACT_DIRECT};
        CHECK_INT(kos_hit_encode(&bad, bin), 0);
        CHECK_INT(kos_hit_encode_hex(&bad, hex), 0);
        bad.key = KOS_KEY_X;
        bad.game = KOS_GAME_COUNT;
        CHECK_INT(kos_hit_encode(&bad, bin), 0);
        bad.game = 0;
        bad.direction = KOS_DIR_COUNT;
        CHECK_INT(kos_hit_encode(&bad, bin), 0);
        char js[KOS_HIT_JSON_MAX];
        CHECK_INT(kos_hit_json(&bad, js, sizeof(js)), 0);
        CHECK_INT(kos_session_json(&bad, 1, js, sizeof(js)), 0);
        CHECK_INT(kos_body_json(KOS_APPROVAL_FALSE, &bad, 1, js, sizeof(js)), 0);
        CHECK_INT(kos_body_json(7, NULL, 0, js, sizeof(js)), 0);
}

static void test_header_json(void)
{
        kos_frame_header_t h = {.ts = 1700000000000LL, .zone = KOS_ZONE_EU};
        kos_header_set_machine_id(&h, 42);
        CHECK_STR(h.machine, "000042");
        char buf[KOS_HEADER_JSON_MAX];
        size_t n = kos_header_json(&h, buf, sizeof(buf));
        CHECK_STR(buf, "{\"ts\":1700000000000,\"machine\":\"000042\",\"zone\":\"EU\"}");
        CHECK_INT(n, strlen(buf));
        kos_header_set_machine_id(&h, 4);
        CHECK_STR(h.machine, "000004");
        kos_header_set_machine_id(&h, 999999);
        CHECK_STR(h.machine, "999999");
        kos_header_set_machine_id(&h, 1234567);
        CHECK_STR(h.machine, "1234567");
        h.ts = 0;
        h.zone = KOS_ZONE_AU;
        kos_header_json(&h, buf, sizeof(buf));
        CHECK_STR(buf, "{\"ts\":0,\"machine\":\"1234567\",\"zone\":\"AU\"}");

        /* snprintf semantics: the full length is returned, what fits is NUL-terminated. */
        char small[10];
        CHECK_INT(kos_header_json(&h, small, sizeof(small)), 40);
        CHECK_STR(small, "{\"ts\":0,\"");
        CHECK_INT(kos_header_json(&h, NULL, 0), 40);

        /* Strings that need escaping still make valid JSON that parses back. */
        strcpy(h.machine, "a\"b\\c\x01");
        kos_header_json(&h, buf, sizeof(buf));
        CHECK_STR(buf, "{\"ts\":0,\"machine\":\"a\\\"b\\\\c\\u0001\",\"zone\":\"AU\"}");
        kos_frame_header_t p;
        char err[256];
        CHECK_INT(kos_header_parse(buf, strlen(buf), &p, err, sizeof(err)), 0);
        CHECK_STR(p.machine, h.machine);

        h.zone = KOS_ZONE_COUNT;
        CHECK_INT(kos_header_json(&h, buf, sizeof(buf)), 0);
        h.zone = KOS_ZONE_US;
        h.ts = -1;
        CHECK_INT(kos_header_json(&h, buf, sizeof(buf)), 0);
        CHECK_STR(kos_zone_name(KOS_ZONE_ZG), "ZG");
        CHECK(kos_zone_name(9) == NULL);
        CHECK(kos_zone_name(-1) == NULL);
}

static void test_body_and_session_json(void)
{
        kos_hit_t hits[3];
        CHECK_INT(dec("e3001f00d9b5", &hits[0]), KOS_HIT_OK);
        CHECK_INT(dec("c3ff8d4f14ffc3d9b5", &hits[1]), KOS_HIT_OK);
        CHECK_INT(dec("c3ff8ab13000e9c5", &hits[2]), KOS_HIT_OK);
        char buf[KOS_BODY_JSON_MAX(3)];
        size_t n = kos_body_json(KOS_APPROVAL_FALSE, hits, 3, buf, sizeof(buf));
        CHECK_STR(buf, "{\"approval\":false,\"bytes\":[\"e3001f00d9b5\",\"c3ff8d4f14ffc3d9b5\","
                       "\"c3ff8ab13000e9c5\"]}");
        CHECK_INT(n, strlen(buf));
        CHECK(n <= KOS_BODY_JSON_MAX(3));
        kos_body_json(KOS_APPROVAL_TRUE, hits, 1, buf, sizeof(buf));
        CHECK_STR(buf, "{\"approval\":true,\"bytes\":[\"e3001f00d9b5\"]}");
        kos_body_json(KOS_APPROVAL_NULL, hits, 0, buf, sizeof(buf));
        CHECK_STR(buf, "{\"approval\":null,\"bytes\":[]}");

        char s[3 * KOS_HIT_JSON_MAX + 16];
        n = kos_session_json(hits, 2, s, sizeof(s));
        CHECK_STR(s, "{\"hits\":[{\"impact\":0,\"key\":\"X\",\"doubleKey\":null,\"direction\":null,"
                     "\"impactType\":\"Missed\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"},"
                     "{\"impact\":20,\"key\":\"O\",\"doubleKey\":\"O\",\"direction\":\"LEFT\","
                     "\"impactType\":\"Critical\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"}]}");
        CHECK_INT(n, strlen(s));
        CHECK_INT(kos_session_json(hits, 2, NULL, 0), n); /* measuring */
        kos_session_json(NULL, 0, s, sizeof(s));
        CHECK_STR(s, "{\"hits\":[]}");
        /* The longest hit fits KOS_HIT_JSON_MAX. */
        kos_hit_t big = {.key = KOS_KEY_O,
                         .direction = KOS_DIR_RIGHT,
                         .impact_type = 1,
                         .impact = 255,
                         .double_key = KOS_KEY_O,
                         .level = KOS_LEVEL_NEWBIE,
                         .game = KOS_GAME_HEATOFBATTLE};
        CHECK(kos_hit_json(&big, NULL, 0) < KOS_HIT_JSON_MAX);
}

#define PARSE_H(json, want_rc)                                                                     \
        do {                                                                                       \
                kos_frame_header_t h_;                                                             \
                char e_[256] = "";                                                                 \
                CHECK_INT(kos_header_parse(json, strlen(json), &h_, e_, sizeof(e_)), want_rc);     \
                if (want_rc)                                                                       \
                        CHECK(strncmp(e_, "header: ", 8) == 0);                                    \
        } while (0)

static void test_header_parse(void)
{
        kos_frame_header_t h;
        char err[256];
        const char *ok = "{\"ts\":1700000000000,\"machine\":\"000042\",\"zone\":\"EU\"}";
        CHECK_INT(kos_header_parse(ok, strlen(ok), &h, err, sizeof(err)), 0);
        CHECK_INT(h.ts, 1700000000000LL);
        CHECK_STR(h.machine, "000042");
        CHECK_INT(h.zone, KOS_ZONE_EU);
        /* Field order and spaces do not matter for parsing; unknown fields are ignored. */
        const char *loose = " { \"zone\" : \"ZG\", \"extra\": [1], \"machine\":\"7\", \"ts\": 5 } ";
        CHECK_INT(kos_header_parse(loose, strlen(loose), &h, err, sizeof(err)), 0);
        CHECK_INT(h.zone, KOS_ZONE_ZG);
        CHECK_INT(h.ts, 5);

        PARSE_H("{\"machine\":\"000042\",\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":\"1\",\"machine\":\"000042\",\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":1.5,\"machine\":\"000042\",\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":-1,\"machine\":\"000042\",\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":1,\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":1,\"machine\":42,\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":1,\"machine\":\"\",\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":1,\"machine\":\"123456789012345678901234567890123\",\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":1,\"machine\":\"12345678901234567890123456789012\",\"zone\":\"EU\"}", 0);
        PARSE_H("{\"ts\":1,\"machine\":\"a\\u0000b\",\"zone\":\"EU\"}", -1);
        PARSE_H("{\"ts\":1,\"machine\":\"1\"}", -1);
        PARSE_H("{\"ts\":1,\"machine\":\"1\",\"zone\":\"eu\"}", -1);
        PARSE_H("{\"ts\":1,\"machine\":\"1\",\"zone\":null}", -1);
        PARSE_H("{\"ts\":1,\"ts\":2,\"machine\":\"1\",\"zone\":\"EU\"}", -1);
        PARSE_H("[1,2]", -1);
        PARSE_H("", -1);
        PARSE_H("{\"ts\":1,", -1);
        PARSE_H("null", -1);

        CHECK_INT(kos_header_parse("{\"ts\":1}", 3, &h, err, sizeof(err)), -1); /* cut by len */
        CHECK(strstr(err, "invalid JSON") != NULL);
        char *huge = calloc(1, KOS_FRAME_JSON_MAX + 2);
        memset(huge, ' ', KOS_FRAME_JSON_MAX + 1);
        CHECK_INT(kos_header_parse(huge, KOS_FRAME_JSON_MAX + 1, &h, err, sizeof(err)), -1);
        CHECK(strstr(err, "more than") != NULL);
        free(huge);
        const char *mz = "{\"ts\":1,\"machine\":\"1\",\"zone\":\"XX\"}";
        kos_header_parse(mz, strlen(mz), &h, err, sizeof(err));
        CHECK_STR(err, "header: zone is not one of EU, US, ZG, AU");
}

static void test_body_parse(void)
{
        kos_frame_body_t b;
        char err[256];
        const char *ok =
            "{\"approval\":false,\"bytes\":[\"e3001f00d9b5\",\"zz\",\"C3FF8D4F14FFC3D9B5\","
            "\"e3001f00d9b500\",\"\"]}";
        CHECK_INT(kos_body_parse(ok, strlen(ok), &b, err, sizeof(err)), 0);
        CHECK_INT(b.approval, KOS_APPROVAL_FALSE);
        CHECK_INT(b.n_strings, 5);
        CHECK_INT(b.n_hits, 2);
        CHECK_INT(b.n_bad, 3);
        CHECK_INT(b.hits[0].impact_type, KOS_IMPACT_MISSED);
        CHECK_INT(b.hits[1].impact, 20);
        kos_body_clear(&b);
        CHECK(b.hits == NULL);
        kos_body_clear(NULL);

        const char *t = "{\"bytes\":[],\"approval\":true}";
        CHECK_INT(kos_body_parse(t, strlen(t), &b, err, sizeof(err)), 0);
        CHECK_INT(b.approval, KOS_APPROVAL_TRUE);
        CHECK_INT(b.n_strings, 0);
        kos_body_clear(&b);
        const char *nl = "{\"approval\":null,\"bytes\":[\"e3001f00d9b5\"]}";
        CHECK_INT(kos_body_parse(nl, strlen(nl), &b, err, sizeof(err)), 0);
        CHECK_INT(b.approval, KOS_APPROVAL_NULL);
        CHECK_INT(b.n_hits, 1);
        kos_body_clear(&b);

        static const char *bad[] = {
            "{\"bytes\":[]}",
            "{\"approval\":\"false\",\"bytes\":[]}",
            "{\"approval\":0,\"bytes\":[]}",
            "{\"approval\":false}",
            "{\"approval\":false,\"bytes\":\"e3001f00d9b5\"}",
            "{\"approval\":false,\"bytes\":[\"e3001f00d9b5\",12]}",
            "{\"approval\":false,\"bytes\":[null]}",
            "{\"approval\":false,\"bytes\":[[\"e3001f00d9b5\"]]}",
            "[]",
            "{\"approval\":false,\"bytes\":[}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                b.n_hits = 99;
                CHECK_INT(kos_body_parse(bad[i], strlen(bad[i]), &b, err, sizeof(err)), -1);
                CHECK(strncmp(err, "body: ", 6) == 0);
                CHECK(b.hits == NULL && b.n_hits == 0);
        }
        /* More strings than allowed: refused before any decoding. */
        size_t n = KOS_BODY_MAX_BYTES + 1, len = 0;
        char *big = malloc(40 + n * 5);
        len += (size_t)sprintf(big, "{\"approval\":false,\"bytes\":[");
        for (size_t i = 0; i < n; i++)
                len += (size_t)sprintf(big + len, "%s\"\"", i ? "," : "");
        len += (size_t)sprintf(big + len, "]}");
        CHECK_INT(kos_body_parse(big, len, &b, err, sizeof(err)), -1);
        CHECK(strstr(err, "10000") != NULL);
        free(big);
}

/* Keys map to the partition Java's DefaultPartitioner picks: toPositive(murmur2(key)) % n.
 * Expected values computed with kafka-clients 4.3.1 Utils.murmur2 in jshell. */
static void test_murmur2_partitioner(void)
{
        static const struct {
                const char *key;
                int32_t p4, p6, p100;
        } v[] = {
            {"{\"ts\":1700000000000,\"machine\":\"000042\",\"zone\":\"EU\"}", 3, 3, 59},
            {"{\"ts\":1700000000001,\"machine\":\"999999\",\"zone\":\"AU\"}", 2, 2, 66},
            {"{\"ts\":0,\"machine\":\"000004\",\"zone\":\"US\"}", 3, 1, 19},
            {"{\"ts\":1234567890123,\"machine\":\"123456\",\"zone\":\"ZG\"}", 2, 0, 10},
            {"kafka", 0, 4, 80},
            {"", 1, 3, 81},
            {"a", 0, 4, 24},
            {"abc", 3, 3, 7},
        };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                size_t len = strlen(v[i].key);
                CHECK_INT(
                    rd_kafka_msg_partitioner_murmur2_random(NULL, v[i].key, len, 4, NULL, NULL),
                    v[i].p4);
                CHECK_INT(
                    rd_kafka_msg_partitioner_murmur2_random(NULL, v[i].key, len, 6, NULL, NULL),
                    v[i].p6);
                CHECK_INT(
                    rd_kafka_msg_partitioner_murmur2_random(NULL, v[i].key, len, 100, NULL, NULL),
                    v[i].p100);
        }
        /* And the producer accepts the property kos-datagen sets. */
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[256];
        CHECK_INT(rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof(err)),
                  RD_KAFKA_CONF_OK);
        rd_kafka_conf_destroy(conf);
}

int main(void)
{
        test_seed_vectors();
        test_discriminator_bytes();
        test_all_combinations();
        test_decode_errors();
        test_header_json();
        test_body_and_session_json();
        test_header_parse();
        test_body_parse();
        test_murmur2_partitioner();
        return check_result("test_frame");
}
