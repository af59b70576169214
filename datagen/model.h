/* The original generator's event model (xke-kingof-scaling's kos-datagen,
 * https://github.com/DivLoic/xke-kingof-scaling) on a seedable PRNG: 10-35 machines drawn once,
 * then frames of 1-5 hits with the original weights, each answered with probability 100/101. Same
 * seed, same stream: this is what --seed replays. */
#ifndef KOS_DG_MODEL_H
#define KOS_DG_MODEL_H

#include "frame.h"

#include <stddef.h>
#include <stdint.h>

/* xoshiro256** (Blackman & Vigna): fast, 256-bit state, seeded through splitmix64. */
typedef struct {
        uint64_t s[4];
} kos_rng_t;

void kos_rng_seed(kos_rng_t *r, uint64_t seed);
uint64_t kos_rng_next(kos_rng_t *r);
/* Uniform in [0, n) without modulo bias (Lemire's method); n > 0. */
uint32_t kos_rng_below(kos_rng_t *r, uint32_t n);
/* Uniform in [lo, hi], both inclusive. */
uint32_t kos_rng_range(kos_rng_t *r, uint32_t lo, uint32_t hi);

#define KOS_MODEL_MIN_MACHINES 10
#define KOS_MODEL_MAX_MACHINES 35
#define KOS_MODEL_MIN_ID       4
#define KOS_MODEL_MAX_ID       999999
#define KOS_MODEL_MIN_HITS     1
#define KOS_MODEL_MAX_HITS     5
#define KOS_MODEL_MIN_VIOLENCE 42
#define KOS_MODEL_MAX_VIOLENCE 209
/* A request is answered with probability NUM/DEN. */
#define KOS_MODEL_RESPONSE_NUM 100
#define KOS_MODEL_RESPONSE_DEN 101

/* The original's weights, indexed by kos_direction_t / kos_impact_type_t (for tests too). */
extern const uint32_t kos_model_direction_weight[KOS_DIR_COUNT];
extern const uint32_t kos_model_impact_weight[KOS_IMPACT_COUNT];

typedef struct {
        uint32_t id;  /* 4..999999, distinct within a model */
        uint8_t zone; /* kos_zone_t */
        uint8_t game; /* kos_game_t */
} kos_machine_t;

typedef struct {
        kos_rng_t rng;
        size_t n_machines;
        kos_machine_t machines[KOS_MODEL_MAX_MACHINES];
} kos_model_t;

typedef struct {
        const kos_machine_t *machine; /* borrowed from the model */
        uint8_t level;                /* kos_level_t, shared by all hits */
        uint8_t n_hits;
        uint8_t respond; /* 1: a response goes to the responses topic */
        kos_hit_t hits[KOS_MODEL_MAX_HITS];
} kos_frame_t;

/* Draws the machines. The model holds no heap memory. */
void kos_model_init(kos_model_t *m, uint64_t seed);
/* Draws the next frame (including whether it gets a response). */
void kos_model_next(kos_model_t *m, kos_frame_t *f);

/* The encoded records of one frame: the shared key and the request/response values. */
typedef struct {
        char key[KOS_HEADER_JSON_MAX];
        size_t key_len;
        char rq[KOS_BODY_JSON_MAX(KOS_MODEL_MAX_HITS)];
        size_t rq_len;
        char rs[KOS_BODY_JSON_MAX(KOS_MODEL_MAX_HITS)];
        size_t rs_len; /* 0 when the frame gets no response */
} kos_frame_records_t;

/* Encodes f with header timestamp ts (epoch ms). */
void kos_model_encode(const kos_frame_t *f, int64_t ts, kos_frame_records_t *out);

/* A seed for runs without --seed: clock, pid and pod name mixed, so replicas differ. */
uint64_t kos_model_auto_seed(const char *pod_name);

#endif
