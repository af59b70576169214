/* The processor's record parsing (processor/records.c): the canonical fast path takes what
 * the generator writes, leaves every variant to jansson, and both agree on the result. */
#include "check.h"
#include "records.h"

#include <string.h>

static int header_ok(const char *k)
{
        char why[256];
        return kos_rec_header_check(k, strlen(k), why, sizeof(why)) == 0;
}

static void test_headers(void)
{
        const char *canon = "{\"ts\":1700000000000,\"machine\":\"000042\",\"zone\":\"EU\"}";
        CHECK(kos_rec_header_fast(canon, strlen(canon)));
        CHECK(header_ok(canon));
        const char *zero = "{\"ts\":0,\"machine\":\"x\",\"zone\":\"AU\"}";
        CHECK(kos_rec_header_fast(zero, strlen(zero)));
        /* Valid but not canonical: jansson decides (accepts). */
        const char *variants[] = {
            "{\"ts\": 1,\"machine\":\"000042\",\"zone\":\"EU\"}",
            "{\"machine\":\"000042\",\"ts\":1,\"zone\":\"EU\"}",
            "{\"ts\":1,\"machine\":\"0\\u0030\",\"zone\":\"EU\"}",
            "{\"ts\":1,\"machine\":\"000042\",\"zone\":\"EU\",\"extra\":true}",
            "{\"ts\":1234567890123456789,\"machine\":\"000042\",\"zone\":\"EU\"}",
        };
        for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
                CHECK(!kos_rec_header_fast(variants[i], strlen(variants[i])));
                CHECK(header_ok(variants[i]));
        }
        /* Not headers, whichever path sees them. */
        const char *bad[] = {
            "{\"ts\":01,\"machine\":\"000042\",\"zone\":\"EU\"}",
            "{\"ts\":-1,\"machine\":\"000042\",\"zone\":\"EU\"}",
            "{\"ts\":1,\"machine\":\"\",\"zone\":\"EU\"}",
            "{\"ts\":1,\"machine\":\"000000000000000000000000000000000\",\"zone\":\"EU\"}",
            "{\"ts\":1,\"machine\":\"000042\",\"zone\":\"FR\"}",
            "{\"ts\":1,\"machine\":\"000042\",\"zone\":\"EU\"}x",
            "{\"ts\":1,\"machine\":\"000042\",\"zone\":\"EU\"",
            "{\"ts\":1,\"machine\":\"000042\"}",
            "",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                CHECK(!kos_rec_header_fast(bad[i], strlen(bad[i])));
                CHECK(!header_ok(bad[i]));
        }
}

static void same(const char *json, int want_fast)
{
        kos_rec_body_t fast, both;
        kos_frame_body_t slow;
        char why[256];
        int f = kos_rec_body_fast(json, strlen(json), &fast);
        CHECK_INT(f, want_fast);
        int s = kos_body_parse(json, strlen(json), &slow, why, sizeof(why));
        int b = kos_rec_body_parse(json, strlen(json), &both, why, sizeof(why));
        CHECK_INT(b, s);
        if (s == 0 && b == 0) {
                CHECK_INT(both.approval, slow.approval);
                CHECK_INT(both.n_strings, slow.n_strings);
                CHECK_INT(both.n_hits, slow.n_hits);
                CHECK_INT(both.n_bad, slow.n_bad);
                CHECK(slow.n_hits == 0 ||
                      memcmp(both.hits, slow.hits, slow.n_hits * sizeof(kos_hit_t)) == 0);
                kos_rec_body_clear(&both);
        }
        if (s == 0)
                kos_body_clear(&slow);
        if (f)
                kos_rec_body_clear(&fast);
}

static void test_bodies(void)
{
        same("{\"approval\":false,\"bytes\":[\"e3001f00d9b5\",\"c3ff8d4f14ffc3d9b5\"]}", 1);
        same("{\"approval\":true,\"bytes\":[]}", 1);
        same("{\"approval\":null,\"bytes\":[\"zz\",\"E3001F00D9B5\",\"e3001f00d9\",\"\"]}", 1);
        /* Not canonical: jansson's verdict (accept). */
        same("{\"approval\": false,\"bytes\":[]}", 0);
        same("{\"bytes\":[],\"approval\":false}", 0);
        same("{\"approval\":false,\"bytes\":[\"e3001f00d9b\\u0035\"]}", 0);
        /* Not bodies. */
        same("{\"approval\":false,\"bytes\":[1]}", 0);
        same("{\"approval\":false,\"bytes\":[\"e3001f00d9b5\",]}", 0);
        same("{\"approval\":false,\"bytes\":[\"e3001f00d9b5\"]", 0);
        same("{\"approval\":false,\"bytes\":[]}}", 0);
        same("{\"approval\":1,\"bytes\":[]}", 0);
        same("{\"approval\":false}", 0);
        same("{\"approval\":false,\"bytes\":[],\"approval\":true}", 0);
        /* More hits than the local array: the fast path moves to the heap. */
        char big[4096] = "{\"approval\":false,\"bytes\":[";
        for (int i = 0; i < 100; i++)
                strcat(big, i ? ",\"c3ff8ab13000e9c5\"" : "\"c3ff8ab13000e9c5\"");
        strcat(big, "]}");
        same(big, 1);
}

int main(void)
{
        test_headers();
        test_bodies();
        return check_result("test_records");
}
