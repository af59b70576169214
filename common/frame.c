/* The seed's records and the binary hit codec (see frame.h). The encoders are hand-written
 * (no jansson, no snprintf) because the datagen calls them for every record it produces. */
#include "frame.h"
#include "xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ------------------------------------------------------------------------------- */

static const char *const zone_names[KOS_ZONE_COUNT] = {"EU", "US", "ZG", "AU"};
static const char *const key_names[KOS_KEY_COUNT] = {NULL, "X", "O"};
static const char *const dir_names[KOS_DIR_COUNT] = {NULL, "UP", "DOWN", "RIGHT", "LEFT"};
static const char *const impact_names[KOS_IMPACT_COUNT] = {"Fatal", "Critical", "Special", "Direct",
                                                           "Missed"};
static const char *const level_names[KOS_LEVEL_COUNT] = {"Pro", "Inter", "NewBie"};
static const char *const game_names[KOS_GAME_COUNT] = {"Neowave", "NeoBlood", "HowlingBlood",
                                                       "MaximumImpact", "HeatofBattleFromParadise"};

#define NAME(tab, v) ((v) >= 0 && (size_t)(v) < sizeof(tab) / sizeof(tab[0]) ? tab[v] : NULL)

const char *kos_zone_name(int zone)
{
        return NAME(zone_names, zone);
}

/* ---- binary codec ------------------------------------------------------------------------ */

enum { OPT_ABSENT = 0x00, OPT_PRESENT = 0xFF };

static const uint8_t key_code[KOS_KEY_COUNT] = {0, 0xE3, 0xC3};
static const uint8_t dir_code[KOS_DIR_COUNT] = {0, 0x8A, 0x8C, 0x8E, 0x8D};
static const uint8_t impact_code[KOS_IMPACT_COUNT] = {0x72, 0x4F, 0xA2, 0xB1, 0x1F};
static const uint8_t level_code[KOS_LEVEL_COUNT] = {0xF9, 0xE9, 0xD9};
static const uint8_t game_code[KOS_GAME_COUNT] = {0xA5, 0xB5, 0xC5, 0xD5, 0xE5};

static int find_code(const uint8_t *codes, int n, int first, uint8_t b)
{
        for (int i = first; i < n; i++)
                if (codes[i] == b)
                        return i;
        return -1;
}

static int hit_valid(const kos_hit_t *h)
{
        return h->key > KOS_KEY_NONE && h->key < KOS_KEY_COUNT && h->direction < KOS_DIR_COUNT &&
               h->impact_type < KOS_IMPACT_COUNT && h->double_key < KOS_KEY_COUNT &&
               h->level < KOS_LEVEL_COUNT && h->game < KOS_GAME_COUNT;
}

const char *kos_hit_strerror(kos_hit_err_t err)
{
        switch (err) {
        case KOS_HIT_OK:
                return "ok";
        case KOS_HIT_EHEX:
                return "not a hex string";
        case KOS_HIT_EODD:
                return "odd number of hex digits";
        case KOS_HIT_ETRUNCATED:
                return "truncated hit";
        case KOS_HIT_ETRAILING:
                return "trailing bytes after the hit";
        case KOS_HIT_EKEY:
                return "unknown key byte";
        case KOS_HIT_EDIRECTION:
                return "bad direction";
        case KOS_HIT_EIMPACT:
                return "unknown impact discriminator";
        case KOS_HIT_EDOUBLEKEY:
                return "bad doubleKey";
        case KOS_HIT_ELEVEL:
                return "unknown level byte";
        case KOS_HIT_EGAME:
                return "unknown game byte";
        case KOS_HIT_EINVALID:
                return "hit field out of range";
        }
        return "unknown error";
}

size_t kos_hit_encode(const kos_hit_t *h, uint8_t *out)
{
        if (!hit_valid(h))
                return 0;
        size_t n = 0;
        out[n++] = key_code[h->key];
        if (h->direction == KOS_DIR_NONE) {
                out[n++] = OPT_ABSENT;
        } else {
                out[n++] = OPT_PRESENT;
                out[n++] = dir_code[h->direction];
        }
        out[n++] = impact_code[h->impact_type];
        if (h->impact_type != KOS_IMPACT_MISSED)
                out[n++] = h->impact;
        if (h->double_key == KOS_KEY_NONE) {
                out[n++] = OPT_ABSENT;
        } else {
                out[n++] = OPT_PRESENT;
                out[n++] = key_code[h->double_key];
        }
        out[n++] = level_code[h->level];
        out[n++] = game_code[h->game];
        return n;
}

static const char hexdigits[] = "0123456789abcdef";

size_t kos_hit_encode_hex(const kos_hit_t *h, char *out)
{
        uint8_t bin[KOS_HIT_BIN_MAX];
        size_t n = kos_hit_encode(h, bin);
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hexdigits[bin[i] >> 4];
                out[2 * i + 1] = hexdigits[bin[i] & 15];
        }
        out[2 * n] = '\0';
        return 2 * n;
}

/* The decoder walks the bytes once; each step either consumes a field or names what is wrong.
 * Running out of bytes anywhere is "truncated", so the empty string is truncated too. */
kos_hit_err_t kos_hit_decode(const uint8_t *b, size_t len, kos_hit_t *out)
{
        kos_hit_t h = {0};
        size_t i = 0;
        int v;
#define NEED()                                                                                     \
        do {                                                                                       \
                if (i >= len)                                                                      \
                        return KOS_HIT_ETRUNCATED;                                                 \
        } while (0)
        NEED();
        if ((v = find_code(key_code, KOS_KEY_COUNT, 1, b[i++])) < 0)
                return KOS_HIT_EKEY;
        h.key = (uint8_t)v;
        NEED();
        if (b[i] == OPT_PRESENT) {
                i++;
                NEED();
                if ((v = find_code(dir_code, KOS_DIR_COUNT, 1, b[i++])) < 0)
                        return KOS_HIT_EDIRECTION;
                h.direction = (uint8_t)v;
        } else if (b[i++] != OPT_ABSENT) {
                return KOS_HIT_EDIRECTION;
        }
        NEED();
        if ((v = find_code(impact_code, KOS_IMPACT_COUNT, 0, b[i++])) < 0)
                return KOS_HIT_EIMPACT;
        h.impact_type = (uint8_t)v;
        if (v != KOS_IMPACT_MISSED) {
                NEED();
                h.impact = b[i++];
        }
        NEED();
        if (b[i] == OPT_PRESENT) {
                i++;
                NEED();
                if ((v = find_code(key_code, KOS_KEY_COUNT, 1, b[i++])) < 0)
                        return KOS_HIT_EDOUBLEKEY;
                h.double_key = (uint8_t)v;
        } else if (b[i++] != OPT_ABSENT) {
                return KOS_HIT_EDOUBLEKEY;
        }
        NEED();
        if ((v = find_code(level_code, KOS_LEVEL_COUNT, 0, b[i++])) < 0)
                return KOS_HIT_ELEVEL;
        h.level = (uint8_t)v;
        NEED();
        if ((v = find_code(game_code, KOS_GAME_COUNT, 0, b[i++])) < 0)
                return KOS_HIT_EGAME;
        h.game = (uint8_t)v;
#undef NEED
        if (i != len)
                return KOS_HIT_ETRAILING;
        *out = h;
        return KOS_HIT_OK;
}

static int hexval(unsigned char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        c |= 0x20; /* fold case */
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

kos_hit_err_t kos_hit_decode_hex(const char *hex, size_t len, kos_hit_t *out)
{
        for (size_t i = 0; i < len; i++)
                if (hexval((unsigned char)hex[i]) < 0)
                        return KOS_HIT_EHEX;
        if (len % 2)
                return KOS_HIT_EODD;
        /* One byte more than a hit can hold is enough to tell "trailing" from "complete". */
        uint8_t bin[KOS_HIT_BIN_MAX + 1];
        size_t n = len / 2 < sizeof(bin) ? len / 2 : sizeof(bin);
        for (size_t i = 0; i < n; i++)
                bin[i] = (uint8_t)(hexval((unsigned char)hex[2 * i]) << 4 |
                                   hexval((unsigned char)hex[2 * i + 1]));
        return kos_hit_decode(bin, n, out);
}

/* ---- JSON writers -------------------------------------------------------------------------- */

/* snprintf-style output: counts everything, copies what fits, keeps room for the NUL. */
typedef struct {
        char *buf;
        size_t size;
        size_t len;
} writer_t;

static void put(writer_t *w, const char *s, size_t n)
{
        if (w->len + 1 < w->size) {
                size_t room = w->size - 1 - w->len;
                memcpy(w->buf + w->len, s, n < room ? n : room);
        }
        w->len += n;
}

#define PUT_LIT(w, lit) put(w, lit, sizeof(lit) - 1)

static void put_str(writer_t *w, const char *s)
{
        put(w, s, strlen(s));
}

static void put_u64(writer_t *w, uint64_t v)
{
        char tmp[20];
        size_t n = 0;
        do {
                tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        put(w, tmp + sizeof(tmp) - n, n);
}

/* JSON string contents; machine ids are digits in practice, but a parsed header may hold any
 * string and must re-encode to valid JSON. */
static void put_escaped(writer_t *w, const char *s)
{
        const char *run = s;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                put(w, run, (size_t)(s - run));
                char esc[7] = {'\\', (char)c, 0};
                if (c < 0x20) {
                        esc[1] = 'u';
                        esc[2] = '0';
                        esc[3] = '0';
                        esc[4] = hexdigits[c >> 4];
                        esc[5] = hexdigits[c & 15];
                        put(w, esc, 6);
                } else {
                        put(w, esc, 2);
                }
                run = s + 1;
        }
        put(w, run, (size_t)(s - run));
}

static size_t finish(writer_t *w)
{
        if (w->size)
                w->buf[w->len < w->size ? w->len : w->size - 1] = '\0';
        return w->len;
}

void kos_header_set_machine_id(kos_frame_header_t *h, uint32_t id)
{
        char tmp[12];
        int n = 0;
        do {
                tmp[n++] = (char)('0' + id % 10);
                id /= 10;
        } while (id && n < 10);
        while (n < 6)
                tmp[n++] = '0';
        for (int i = 0; i < n; i++)
                h->machine[i] = tmp[n - 1 - i];
        h->machine[n] = '\0';
}

size_t kos_header_json(const kos_frame_header_t *h, char *buf, size_t size)
{
        const char *zone = kos_zone_name(h->zone);
        if (!zone || h->ts < 0 || memchr(h->machine, '\0', sizeof(h->machine)) == NULL)
                return 0;
        writer_t w = {buf, size, 0};
        PUT_LIT(&w, "{\"ts\":");
        put_u64(&w, (uint64_t)h->ts);
        PUT_LIT(&w, ",\"machine\":\"");
        put_escaped(&w, h->machine);
        PUT_LIT(&w, "\",\"zone\":\"");
        put(&w, zone, 2);
        PUT_LIT(&w, "\"}");
        return finish(&w);
}

size_t kos_body_json(int approval, const kos_hit_t *hits, size_t n, char *buf, size_t size)
{
        writer_t w = {buf, size, 0};
        switch (approval) {
        case KOS_APPROVAL_FALSE:
                PUT_LIT(&w, "{\"approval\":false,\"bytes\":[");
                break;
        case KOS_APPROVAL_TRUE:
                PUT_LIT(&w, "{\"approval\":true,\"bytes\":[");
                break;
        case KOS_APPROVAL_NULL:
                PUT_LIT(&w, "{\"approval\":null,\"bytes\":[");
                break;
        default:
                return 0;
        }
        char hex[KOS_HIT_HEX_MAX + 3];
        for (size_t i = 0; i < n; i++) {
                /* Quote and comma around the digits so each hit is a single put. */
                size_t k = 0;
                if (i)
                        hex[k++] = ',';
                hex[k++] = '"';
                size_t m = kos_hit_encode_hex(&hits[i], hex + k);
                if (!m)
                        return 0;
                k += m;
                hex[k++] = '"';
                put(&w, hex, k);
        }
        PUT_LIT(&w, "]}");
        return finish(&w);
}

static void put_hit(writer_t *w, const kos_hit_t *h)
{
        PUT_LIT(w, "{\"impact\":");
        put_u64(w, h->impact_type == KOS_IMPACT_MISSED ? 0 : h->impact);
        PUT_LIT(w, ",\"key\":\"");
        put_str(w, key_names[h->key]);
        PUT_LIT(w, "\",\"doubleKey\":");
        if (h->double_key == KOS_KEY_NONE) {
                PUT_LIT(w, "null");
        } else {
                PUT_LIT(w, "\"");
                put_str(w, key_names[h->double_key]);
                PUT_LIT(w, "\"");
        }
        PUT_LIT(w, ",\"direction\":");
        if (h->direction == KOS_DIR_NONE) {
                PUT_LIT(w, "null");
        } else {
                PUT_LIT(w, "\"");
                put_str(w, dir_names[h->direction]);
                PUT_LIT(w, "\"");
        }
        PUT_LIT(w, ",\"impactType\":\"");
        put_str(w, impact_names[h->impact_type]);
        PUT_LIT(w, "\",\"level\":\"");
        put_str(w, level_names[h->level]);
        PUT_LIT(w, "\",\"game\":\"");
        put_str(w, game_names[h->game]);
        PUT_LIT(w, "\"}");
}

size_t kos_hit_json(const kos_hit_t *h, char *buf, size_t size)
{
        if (!hit_valid(h))
                return 0;
        writer_t w = {buf, size, 0};
        put_hit(&w, h);
        return finish(&w);
}

size_t kos_session_json(const kos_hit_t *hits, size_t n, char *buf, size_t size)
{
        writer_t w = {buf, size, 0};
        PUT_LIT(&w, "{\"hits\":[");
        for (size_t i = 0; i < n; i++) {
                if (!hit_valid(&hits[i]))
                        return 0;
                if (i)
                        PUT_LIT(&w, ",");
                put_hit(&w, &hits[i]);
        }
        PUT_LIT(&w, "]}");
        return finish(&w);
}

/* ---- parsers ------------------------------------------------------------------------------- */

static json_t *load_object(const char *json, size_t len, const char *what, char *errstr,
                           size_t errstr_size)
{
        if (len > KOS_FRAME_JSON_MAX) {
                snprintf(errstr, errstr_size, "%s: %zu bytes, more than the %d allowed", what, len,
                         KOS_FRAME_JSON_MAX);
                return NULL;
        }
        json_error_t jerr;
        json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                snprintf(errstr, errstr_size, "%s: invalid JSON at %d: %s", what, jerr.position,
                         jerr.text);
                return NULL;
        }
        if (!json_is_object(root)) {
                snprintf(errstr, errstr_size, "%s: not a JSON object", what);
                json_decref(root);
                return NULL;
        }
        return root;
}

int kos_header_parse(const char *json, size_t len, kos_frame_header_t *out, char *errstr,
                     size_t errstr_size)
{
        json_t *root = load_object(json, len, "header", errstr, errstr_size);
        if (!root)
                return -1;
        kos_frame_header_t h = {0};
        json_t *ts = json_object_get(root, "ts");
        json_t *machine = json_object_get(root, "machine");
        json_t *zone = json_object_get(root, "zone");
        const char *why = NULL;
        if (!ts)
                why = "missing field ts";
        else if (!json_is_integer(ts))
                why = "ts is not an integer";
        else if (json_integer_value(ts) < 0)
                why = "ts is negative";
        else if (!machine)
                why = "missing field machine";
        else if (!json_is_string(machine))
                why = "machine is not a string";
        else if (json_string_length(machine) == 0)
                why = "machine is empty";
        else if (json_string_length(machine) > KOS_MACHINE_MAX)
                why = "machine is longer than 32 bytes";
        else if (strlen(json_string_value(machine)) != json_string_length(machine))
                why = "machine contains NUL";
        else if (!zone)
                why = "missing field zone";
        else if (!json_is_string(zone))
                why = "zone is not a string";
        if (!why) {
                h.ts = (int64_t)json_integer_value(ts);
                memcpy(h.machine, json_string_value(machine), json_string_length(machine) + 1);
                h.zone = -1;
                for (int z = 0; z < KOS_ZONE_COUNT; z++)
                        if (strcmp(json_string_value(zone), zone_names[z]) == 0)
                                h.zone = z;
                if (h.zone < 0)
                        why = "zone is not one of EU, US, ZG, AU";
        }
        json_decref(root);
        if (why) {
                snprintf(errstr, errstr_size, "header: %s", why);
                return -1;
        }
        *out = h;
        return 0;
}

void kos_body_clear(kos_frame_body_t *b)
{
        if (!b)
                return;
        free(b->hits);
        memset(b, 0, sizeof(*b));
}

int kos_body_parse(const char *json, size_t len, kos_frame_body_t *out, char *errstr,
                   size_t errstr_size)
{
        memset(out, 0, sizeof(*out));
        json_t *root = load_object(json, len, "body", errstr, errstr_size);
        if (!root)
                return -1;
        kos_frame_body_t b = {0};
        json_t *approval = json_object_get(root, "approval");
        json_t *bytes = json_object_get(root, "bytes");
        const char *why = NULL;
        if (!approval)
                why = "missing field approval";
        else if (!json_is_boolean(approval) && !json_is_null(approval))
                why = "approval is not a boolean or null";
        else if (!bytes)
                why = "missing field bytes";
        else if (!json_is_array(bytes))
                why = "bytes is not an array";
        else if (json_array_size(bytes) > KOS_BODY_MAX_BYTES)
                why = "bytes has more than 10000 elements";
        if (!why) {
                b.approval = json_is_null(approval)   ? KOS_APPROVAL_NULL
                             : json_is_true(approval) ? KOS_APPROVAL_TRUE
                                                      : KOS_APPROVAL_FALSE;
                b.n_strings = json_array_size(bytes);
                if (b.n_strings)
                        b.hits = kos_xcalloc(b.n_strings, sizeof(*b.hits));
                for (size_t i = 0; i < b.n_strings; i++) {
                        json_t *s = json_array_get(bytes, i);
                        if (!json_is_string(s)) {
                                why = "bytes has an element that is not a string";
                                break;
                        }
                        if (kos_hit_decode_hex(json_string_value(s), json_string_length(s),
                                               &b.hits[b.n_hits]) == KOS_HIT_OK)
                                b.n_hits++;
                        else
                                b.n_bad++;
                }
        }
        json_decref(root);
        if (why) {
                kos_body_clear(&b);
                snprintf(errstr, errstr_size, "body: %s", why);
                return -1;
        }
        *out = b;
        return 0;
}
