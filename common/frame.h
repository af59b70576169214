/* The records of the system kos rebuilds (xke-kingof-scaling,
 * https://github.com/DivLoic/xke-kingof-scaling, which wrote them as Avro), shared by
 * kos-datagen and kos-processor: the FrameHeader key, the FrameBody value and the GameSession
 * value with the original's fields, as byte-exact JSON (kos' choice, readable with kcat: fields
 * always in the same order, no spaces, so equal headers are equal bytes on both topics), and the
 * binary hit codec that the body's hex strings carry. Encoders write into caller buffers
 * snprintf-style and never allocate (they run for every record on the produce path); parsers
 * use jansson and reject bad input with a reason. */
#ifndef KOS_FRAME_H
#define KOS_FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef enum { KOS_ZONE_EU, KOS_ZONE_US, KOS_ZONE_ZG, KOS_ZONE_AU, KOS_ZONE_COUNT } kos_zone_t;

/* 0 means "absent" for the optional doubleKey; a hit's own key is never KOS_KEY_NONE. */
typedef enum { KOS_KEY_NONE, KOS_KEY_X, KOS_KEY_O, KOS_KEY_COUNT } kos_key_t;

typedef enum {
        KOS_DIR_NONE, /* absent (binary 00) */
        KOS_DIR_UP,
        KOS_DIR_DOWN,
        KOS_DIR_RIGHT,
        KOS_DIR_LEFT,
        KOS_DIR_COUNT
} kos_direction_t;

typedef enum {
        KOS_IMPACT_FATAL,
        KOS_IMPACT_CRITICAL,
        KOS_IMPACT_SPECIAL,
        KOS_IMPACT_DIRECT,
        KOS_IMPACT_MISSED, /* no violence byte; impact value 0 */
        KOS_IMPACT_COUNT
} kos_impact_type_t;

typedef enum { KOS_LEVEL_PRO, KOS_LEVEL_INTER, KOS_LEVEL_NEWBIE, KOS_LEVEL_COUNT } kos_level_t;

typedef enum {
        KOS_GAME_NEOWAVE,
        KOS_GAME_NEOBLOOD,
        KOS_GAME_HOWLINGBLOOD,
        KOS_GAME_MAXIMUMIMPACT,
        KOS_GAME_HEATOFBATTLE, /* "HeatofBattleFromParadise" */
        KOS_GAME_COUNT
} kos_game_t;

/* A zone's name as it appears in JSON ("EU"); NULL for an out-of-range value. */
const char *kos_zone_name(int zone);

/* One hit. Fields hold the enum values above; a zeroed struct is not a valid hit (key NONE). */
typedef struct {
        uint8_t key;         /* kos_key_t, X or O */
        uint8_t direction;   /* kos_direction_t, KOS_DIR_NONE = absent */
        uint8_t impact_type; /* kos_impact_type_t */
        uint8_t impact;      /* the violence byte; 0 (and not encoded) for Missed */
        uint8_t double_key;  /* kos_key_t, KOS_KEY_NONE = absent */
        uint8_t level;       /* kos_level_t */
        uint8_t game;        /* kos_game_t */
} kos_hit_t;

/* ---- binary hit codec ----------------------------------------------------------------------
 * The original's format ("decode hexadecimal"): one hit, these fields in this order.
 *   key        E3 X, C3 O
 *   direction  00 absent, or FF then 8A UP, 8C DOWN, 8D LEFT, 8E RIGHT
 *   impact     72 Fatal, 4F Critical, A2 Special, B1 Direct, each followed by the violence
 *              byte; 1F Missed, without one (violence 0)
 *   doubleKey  00 absent, or FF then a key byte
 *   level      F9 Pro, E9 Inter, D9 NewBie
 *   game       A5 Neowave, B5 NeoBlood, C5 HowlingBlood, D5 MaximumImpact,
 *              E5 HeatofBattleFromParadise
 * e3001f00d9b5 is X, no direction, Missed, no doubleKey, NewBie, NeoBlood. A string that is not
 * hex, stops inside a hit, has bytes after it or an unknown byte is not a hit: the original
 * dropped it silently, kos drops and counts it. */

#define KOS_HIT_BIN_MAX 9 /* key, FF dir, impact + violence, FF key, lvl, game */
#define KOS_HIT_HEX_MAX (2 * KOS_HIT_BIN_MAX) /* without the NUL */

typedef enum {
        KOS_HIT_OK = 0,
        KOS_HIT_EHEX,       /* a character is not a hex digit */
        KOS_HIT_EODD,       /* odd number of hex digits */
        KOS_HIT_ETRUNCATED, /* ends inside a hit (includes the empty string) */
        KOS_HIT_ETRAILING,  /* bytes left after a complete hit */
        KOS_HIT_EKEY,       /* unknown key byte */
        KOS_HIT_EDIRECTION, /* option marker not 00/FF, or unknown direction byte */
        KOS_HIT_EIMPACT,    /* unknown impact discriminator */
        KOS_HIT_EDOUBLEKEY, /* option marker not 00/FF, or unknown key byte */
        KOS_HIT_ELEVEL,     /* unknown level byte */
        KOS_HIT_EGAME,      /* unknown game byte */
        KOS_HIT_EINVALID    /* encode: a field of the struct is out of range */
} kos_hit_err_t;

const char *kos_hit_strerror(kos_hit_err_t err);

/* Encodes h into out (at least KOS_HIT_BIN_MAX bytes). @returns the length, 0 if h is invalid. */
size_t kos_hit_encode(const kos_hit_t *h, uint8_t *out);
/* Encodes h as lowercase hex into out (at least KOS_HIT_HEX_MAX + 1 bytes, NUL-terminated).
 * @returns the number of hex digits, 0 if h is invalid. */
size_t kos_hit_encode_hex(const kos_hit_t *h, char *out);
/* Decodes exactly one hit from len bytes. */
kos_hit_err_t kos_hit_decode(const uint8_t *bin, size_t len, kos_hit_t *out);
/* Decodes exactly one hit from len hex digits (either case). Any length is safe: a long string
 * is rejected (EHEX, or ETRAILING if it starts with a complete hit) without copying it. */
kos_hit_err_t kos_hit_decode_hex(const char *hex, size_t len, kos_hit_t *out);

/* ---- FrameHeader (the key of both input topics and of SESSIONS) --------------------------- */

#define KOS_MACHINE_MAX     32 /* bytes of a machine id accepted by the parser */
#define KOS_HEADER_JSON_MAX 256

typedef struct {
        int64_t ts; /* epoch millis, >= 0 */
        char machine[KOS_MACHINE_MAX + 1];
        int zone; /* kos_zone_t */
} kos_frame_header_t;

/* Sets machine to id zero-padded to 6 digits ("000042"), as the original did. */
void kos_header_set_machine_id(kos_frame_header_t *h, uint32_t id);

/* Writes {"ts":...,"machine":"...","zone":"..."} (this order, no spaces) into buf, snprintf
 * style: @returns the full length (excluding the NUL) even if size was too small; 0 if h is
 * invalid (bad zone, negative ts). KOS_HEADER_JSON_MAX always suffices. */
size_t kos_header_json(const kos_frame_header_t *h, char *buf, size_t size);

/* Parses a header. Unknown fields are ignored; missing or mistyped fields, ts < 0, an unknown
 * zone, an empty or over-long machine, or more than KOS_FRAME_JSON_MAX bytes are errors.
 * @returns 0, or -1 with errstr. */
int kos_header_parse(const char *json, size_t len, kos_frame_header_t *out, char *errstr,
                     size_t errstr_size);

/* ---- FrameBody (the value of GAME-FRAME-RQ / GAME-FRAME-RS) ------------------------------- */

enum { KOS_APPROVAL_NULL = -1, KOS_APPROVAL_FALSE = 0, KOS_APPROVAL_TRUE = 1 };

#define KOS_FRAME_JSON_MAX (1024 * 1024) /* parsers refuse larger documents */
#define KOS_BODY_MAX_BYTES 10000         /* parsers refuse more strings in "bytes" */

/* Writes {"approval":false,"bytes":["e3001f00d9b5",...]} snprintf style (see kos_header_json);
 * approval is KOS_APPROVAL_*. @returns 0 if a hit or approval is invalid. */
size_t kos_body_json(int approval, const kos_hit_t *hits, size_t n, char *buf, size_t size);
/* Upper bound of kos_body_json's length for n hits. */
#define KOS_BODY_JSON_MAX(n) (32 + (size_t)(n) * (KOS_HIT_HEX_MAX + 3))

typedef struct {
        int approval;     /* KOS_APPROVAL_* */
        size_t n_strings; /* strings in "bytes" */
        size_t n_hits;    /* strings that decoded */
        size_t n_bad;     /* strings that are not hits: dropped and counted, as the original did */
        kos_hit_t *hits;  /* owned; n_hits decoded hits in order; free with kos_body_clear */
} kos_frame_body_t;

/* Parses a body and decodes its hits. An undecodable string is not an error (it is counted in
 * n_bad); a non-string element, a missing/mistyped field, more than KOS_BODY_MAX_BYTES strings
 * or more than KOS_FRAME_JSON_MAX bytes are. @returns 0 (free with kos_body_clear), or -1 with
 * errstr and *out cleared. */
int kos_body_parse(const char *json, size_t len, kos_frame_body_t *out, char *errstr,
                   size_t errstr_size);
void kos_body_clear(kos_frame_body_t *b);

/* ---- GameSession (the value of SESSIONS) and Hit JSON ------------------------------------- */

/* {"impact":20,"key":"O","doubleKey":"O","direction":"LEFT","impactType":"Critical",
 * "level":"NewBie","game":"NeoBlood"}; absent doubleKey/direction are null. snprintf style;
 * @returns 0 if h is invalid. */
size_t kos_hit_json(const kos_hit_t *h, char *buf, size_t size);
#define KOS_HIT_JSON_MAX 160
/* {"hits":[hit,...]} snprintf style; size 0 measures. @returns 0 if a hit is invalid. */
size_t kos_session_json(const kos_hit_t *hits, size_t n, char *buf, size_t size);

#endif
