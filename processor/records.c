/* Record parsing with a canonical fast path (see records.h). The scanners accept a strict
 * subset of JSON - the bytes the generator writes - and answer "not canonical" on any doubt
 * (whitespace, escapes, non-ASCII, leading zeros, long numbers), leaving the verdict to
 * jansson. */
#include "records.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        const char *p, *end;
} scan_t;

static int lit(scan_t *s, const char *l, size_t n)
{
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, l, n) != 0)
                return 0;
        s->p += n;
        return 1;
}

#define LIT(s, l) lit(s, l, sizeof(l) - 1)

/* A string body up to the closing quote: printable ASCII without quote or backslash (the
 * characters JSON takes as they are). Leaves p after the quote. */
static int plain_string(scan_t *s, const char **start, size_t *len)
{
        const char *q = s->p;
        while (q < s->end && *q != '"') {
                unsigned char c = (unsigned char)*q;
                if (c < 0x20 || c >= 0x80 || c == '\\')
                        return 0;
                q++;
        }
        if (q == s->end)
                return 0;
        *start = s->p;
        *len = (size_t)(q - s->p);
        s->p = q + 1;
        return 1;
}

int kos_rec_header_fast(const char *key, size_t len)
{
        scan_t s = {key, key + len};
        if (!LIT(&s, "{\"ts\":"))
                return 0;
        const char *d = s.p;
        while (s.p < s.end && *s.p >= '0' && *s.p <= '9')
                s.p++;
        size_t digits = (size_t)(s.p - d);
        if (digits == 0 || digits > 18 || (digits > 1 && *d == '0'))
                return 0;
        const char *m;
        size_t mlen;
        if (!LIT(&s, ",\"machine\":\"") || !plain_string(&s, &m, &mlen) || mlen == 0 ||
            mlen > KOS_MACHINE_MAX || !LIT(&s, ",\"zone\":\""))
                return 0;
        if (s.end - s.p < 2)
                return 0;
        int zone_ok = 0;
        for (int z = 0; z < KOS_ZONE_COUNT; z++)
                if (!memcmp(s.p, kos_zone_name(z), 2))
                        zone_ok = 1;
        s.p += 2;
        return zone_ok && LIT(&s, "\"}") && s.p == s.end;
}

int kos_rec_header_check(const char *key, size_t len, char *why, size_t why_size)
{
        if (kos_rec_header_fast(key, len))
                return 0;
        kos_frame_header_t h;
        return kos_header_parse(key, len, &h, why, why_size);
}

static void body_init(kos_rec_body_t *b)
{
        b->approval = KOS_APPROVAL_NULL;
        b->n_strings = b->n_hits = b->n_bad = 0;
        b->hits = b->local;
        memset(&b->slow, 0, sizeof(b->slow));
}

void kos_rec_body_clear(kos_rec_body_t *b)
{
        if (!b)
                return;
        if (b->hits != b->local && b->hits != b->slow.hits)
                free(b->hits);
        kos_body_clear(&b->slow);
        b->hits = b->local;
        b->n_hits = 0;
}

/* Appends one decoded hit, moving to the heap past the local array. */
static void push_hit(kos_rec_body_t *b, const kos_hit_t *h, size_t *cap)
{
        if (b->n_hits == *cap) {
                size_t n = *cap * 2;
                kos_hit_t *a = b->hits == b->local ? kos_xcalloc(n, sizeof(*a))
                                                   : kos_xrealloc(b->hits, n * sizeof(*a));
                if (b->hits == b->local)
                        memcpy(a, b->local, sizeof(b->local));
                b->hits = a;
                *cap = n;
        }
        b->hits[b->n_hits++] = *h;
}

int kos_rec_body_fast(const char *json, size_t len, kos_rec_body_t *out)
{
        body_init(out);
        if (len > KOS_FRAME_JSON_MAX)
                return 0;
        scan_t s = {json, json + len};
        if (!LIT(&s, "{\"approval\":"))
                return 0;
        if (LIT(&s, "false"))
                out->approval = KOS_APPROVAL_FALSE;
        else if (LIT(&s, "true"))
                out->approval = KOS_APPROVAL_TRUE;
        else if (LIT(&s, "null"))
                out->approval = KOS_APPROVAL_NULL;
        else
                return 0;
        if (!LIT(&s, ",\"bytes\":["))
                return 0;
        size_t cap = KOS_REC_LOCAL_HITS;
        if (!LIT(&s, "]")) {
                for (;;) {
                        const char *str;
                        size_t n;
                        kos_hit_t h;
                        if (!LIT(&s, "\"") || !plain_string(&s, &str, &n) ||
                            out->n_strings == KOS_BODY_MAX_BYTES)
                                goto slow;
                        out->n_strings++;
                        if (kos_hit_decode_hex(str, n, &h) != KOS_HIT_OK)
                                out->n_bad++;
                        else
                                push_hit(out, &h, &cap);
                        if (LIT(&s, "]"))
                                break;
                        if (!LIT(&s, ","))
                                goto slow;
                }
        }
        if (LIT(&s, "}") && s.p == s.end)
                return 1;
slow:
        kos_rec_body_clear(out);
        body_init(out);
        return 0;
}

int kos_rec_body_parse(const char *json, size_t len, kos_rec_body_t *out, char *why,
                       size_t why_size)
{
        if (kos_rec_body_fast(json, len, out))
                return 0;
        if (kos_body_parse(json, len, &out->slow, why, why_size) == -1)
                return -1;
        out->approval = out->slow.approval;
        out->n_strings = out->slow.n_strings;
        out->n_hits = out->slow.n_hits;
        out->n_bad = out->slow.n_bad;
        out->hits = out->slow.hits ? out->slow.hits : out->local;
        return 0;
}
