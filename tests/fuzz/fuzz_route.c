/* libFuzzer target for the request-parsing surface of kos-adapter: the router, the label
 * selector parser/matcher/renderer, the selector's scaling parameters (topicRegex, weights,
 * thresholds) and the quantity codec, with their invariants asserted.
 * Input: "<method>\n<path>\n<query>" (NUL also separates); shorter inputs fill from the left. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"
#include "route.h"
#include "scaling.h"
#include "selector.h"

#define FUZZ_ASSERT(x)                                                                             \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Label source for matching: keys starting with 'a' exist with the opaque string as value,
 * 'b' keys exist with a number, everything else is absent. */
static const char *fuzz_label(void *opaque, const char *key)
{
        if (key[0] == 'a')
                return opaque;
        if (key[0] == 'b')
                return "42";
        return NULL;
}

static void fuzz_route(const char *method, const char *path, const char *query)
{
        kos_request_t req;
        kos_route_error_t err;

        if (kos_route_parse(method, path, query, &req, &err) == 0) {
                if (req.kind == KOS_REQ_OBJECT || req.kind == KOS_REQ_WILDCARD)
                        FUZZ_ASSERT(req.name[0] && req.resource[0] && req.metric[0]);
                if (req.kind == KOS_REQ_EXTERNAL)
                        FUZZ_ASSERT(req.namespace_[0] && req.metric[0] && !req.label_selector);
                FUZZ_ASSERT(!req.label_selector || req.label_selector->n_reqs > 0);
                kos_request_clear(&req);
                kos_request_clear(&req);
        } else {
                FUZZ_ASSERT(err.http_status == 400 || err.http_status == 404 ||
                            err.http_status == 405 || err.http_status == 414);
                FUZZ_ASSERT(err.reason[0] && err.message[0]);
                FUZZ_ASSERT(!req.label_selector && !req.metric_selector);
        }
}

static void fuzz_selector(const char *text, const char *label_value, size_t json_size)
{
        char err[256], *json;
        kos_selector_t *sel = kos_selector_parse(text, err, sizeof(err));
        int n;

        if (!sel) {
                FUZZ_ASSERT(err[0]);
                return;
        }
        /* the label getter only reads its opaque */
        (void)kos_selector_matches(sel, fuzz_label, (void *)(uintptr_t)label_value);
        for (size_t i = 0; i < sel->n_reqs; i++)
                (void)kos_selector_equals_value(sel, sel->reqs[i].key);
        kos_scaling_t sc;
        char why[512] = "";
        if (kos_scaling_parse(sel, &sc, why, sizeof(why)) == 0) {
                FUZZ_ASSERT(sc.allow_idle + sc.limit_to_lagging < 2);
                FUZZ_ASSERT(sc.lag_threshold > 0 || (!sc.allow_idle && !sc.limit_to_lagging));
                (void)kos_scaling_topic_selected(&sc, label_value);
                FUZZ_ASSERT(kos_scaling_weight_milli(&sc, label_value) >= 0);
                int64_t v = kos_scaling_value(&sc, INT64_MAX, 1000, 1000);
                FUZZ_ASSERT(v >= 0);
                kos_scaling_clear(&sc);
        } else {
                FUZZ_ASSERT(why[0]);
        }
        json = malloc(json_size);
        if (json) {
                n = kos_selector_to_json(sel, json, json_size);
                FUZZ_ASSERT(n < 0 || (size_t)n == strlen(json));
                FUZZ_ASSERT(n >= 0 || json_size == 0 || json[0] == '\0');
                free(json);
        }
        kos_selector_destroy(sel);
}

static void fuzz_quantity(const char *text, const uint8_t *data, size_t size)
{
        char buf[KOS_QUANTITY_BUFSZ * 2];
        int64_t m, back, v = 0;
        int scale = 0, n;

        if (kos_quantity_parse_milli(text, &m) == 0) {
                /* Canonical milli text parses back to the same value. */
                FUZZ_ASSERT(kos_quantity_format(m, 3, buf, sizeof(buf)) > 0);
                FUZZ_ASSERT(kos_quantity_parse_milli(buf, &back) == 0 && back == m);
        }
        if (size >= 9) {
                memcpy(&v, data, sizeof(v));
                scale = (int)(data[8] % 131) - 65; /* -65..65, edges are out of range */
        }
        n = kos_quantity_format(v, scale, buf, sizeof(buf));
        if (scale < -64 || scale > 64) {
                FUZZ_ASSERT(n == -1);
                return;
        }
        FUZZ_ASSERT(n > 0 && (size_t)n == strlen(buf));
        if (scale >= 0 && scale <= 3) {
                /* Exact when v * 10^(3-scale) fits in int64. */
                int64_t want = v;
                int fits = 1;

                for (int i = scale; i < 3 && fits; i++) {
                        if (want > INT64_MAX / 10 || want < INT64_MIN / 10)
                                fits = 0;
                        else
                                want *= 10;
                }
                if (fits)
                        FUZZ_ASSERT(kos_quantity_parse_milli(buf, &back) == 0 && back == want);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf = malloc(size + 1), *part[3] = {NULL, NULL, NULL};
        size_t n = 1;

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        part[0] = buf;
        for (size_t i = 0; i < size && n < 3; i++) {
                if (buf[i] == '\n' || buf[i] == '\0') {
                        buf[i] = '\0';
                        part[n++] = buf + i + 1;
                }
        }

        const char *method = n >= 2 ? part[0] : "GET";
        const char *path = n >= 2 ? part[1] : part[0];
        const char *query = n == 3 ? part[2] : NULL;
        const char *last = part[n - 1];

        fuzz_route(method, path, query);
        fuzz_selector(last, path, size ? (size_t)data[0] * 4 : 0);
        fuzz_quantity(last, data, size);
        free(buf);
        return 0;
}
