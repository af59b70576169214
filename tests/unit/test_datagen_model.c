/* datagen/model: the original's distributions over 100k+ hits (each frequency within 5 sigma of
 * its binomial expectation), every hex string decodes with the shared codec, headers are
 * padded, machines are 10-35 distinct ids, responses ~100/101, and a seed replays exactly. */
#include "check.h"
#include "frame.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* |observed - n p| <= 5 sqrt(n p (1 - p)): fails by chance about once in 1.7 million. */
static int within_5_sigma(uint64_t observed, uint64_t n, double p)
{
        double mean = (double)n * p, sd = sqrt((double)n * p * (1 - p));
        double dev = fabs((double)observed - mean);
        if (dev > 5 * sd)
                fprintf(stderr, "  observed %llu, expected %.1f +- %.1f (5 sigma %.1f)\n",
                        (unsigned long long)observed, mean, sd, 5 * sd);
        return dev <= 5 * sd;
}

static void test_rng(void)
{
        kos_rng_t r;
        kos_rng_seed(&r, 1);
        uint64_t counts[7] = {0};
        for (int i = 0; i < 70000; i++)
                counts[kos_rng_below(&r, 7)]++;
        for (int i = 0; i < 7; i++)
                CHECK(within_5_sigma(counts[i], 70000, 1.0 / 7));
        int seen_lo = 0, seen_hi = 0;
        for (int i = 0; i < 10000; i++) {
                uint32_t v = kos_rng_range(&r, 3, 6);
                CHECK(v >= 3 && v <= 6);
                seen_lo |= v == 3;
                seen_hi |= v == 6;
        }
        CHECK(seen_lo && seen_hi);
        CHECK_INT(kos_rng_range(&r, 5, 5), 5);
        kos_rng_t a, b;
        kos_rng_seed(&a, 42);
        kos_rng_seed(&b, 42);
        for (int i = 0; i < 100; i++)
                CHECK(kos_rng_next(&a) == kos_rng_next(&b));
}

static void test_machines(void)
{
        uint64_t by_count[KOS_MODEL_MAX_MACHINES + 1] = {0}, zones[KOS_ZONE_COUNT] = {0},
                                                   games[KOS_GAME_COUNT] = {0}, total = 0;
        const int seeds = 26000;
        for (int s = 0; s < seeds; s++) {
                kos_model_t m;
                kos_model_init(&m, (uint64_t)s);
                CHECK(m.n_machines >= 10 && m.n_machines <= 35);
                by_count[m.n_machines]++;
                for (size_t i = 0; i < m.n_machines; i++) {
                        CHECK(m.machines[i].id >= 4 && m.machines[i].id <= 999999);
                        for (size_t j = 0; j < i; j++)
                                if (m.machines[j].id == m.machines[i].id)
                                        CHECK(!"duplicate machine id");
                        zones[m.machines[i].zone]++;
                        games[m.machines[i].game]++;
                        total++;
                }
        }
        for (int c = 10; c <= 35; c++)
                CHECK(within_5_sigma(by_count[c], seeds, 1.0 / 26));
        for (int z = 0; z < KOS_ZONE_COUNT; z++)
                CHECK(within_5_sigma(zones[z], total, 1.0 / KOS_ZONE_COUNT));
        for (int g = 0; g < KOS_GAME_COUNT; g++)
                CHECK(within_5_sigma(games[g], total, 1.0 / KOS_GAME_COUNT));
}

/* Draws frames until 100k hits and checks every distribution and every encoded record. */
static void test_distributions(void)
{
        kos_model_t m;
        kos_model_init(&m, 20181025);
        kos_frame_t f;
        static kos_frame_records_t rec;
        uint64_t hits = 0, frames = 0, responses = 0, bad = 0;
        uint64_t dir[KOS_DIR_COUNT] = {0}, imp[KOS_IMPACT_COUNT] = {0}, keys[KOS_KEY_COUNT] = {0};
        uint64_t level[KOS_LEVEL_COUNT] = {0}, nhits[KOS_MODEL_MAX_HITS + 1] = {0};
        uint64_t violence[256] = {0}, machine_use[KOS_MODEL_MAX_MACHINES] = {0}, violent = 0;
        char err[256];
        while (hits < 100000) {
                kos_model_next(&m, &f);
                frames++;
                nhits[f.n_hits]++;
                level[f.level]++;
                responses += f.respond;
                machine_use[f.machine - m.machines]++;
                kos_model_encode(&f, 1700000000000LL + (int64_t)frames, &rec);

                kos_frame_header_t h;
                if (kos_header_parse(rec.key, rec.key_len, &h, err, sizeof(err)) != 0 ||
                    strlen(h.machine) != 6 || atoi(h.machine) != (int)f.machine->id ||
                    h.zone != f.machine->zone || h.ts != 1700000000000LL + (int64_t)frames)
                        bad++;
                kos_frame_body_t b;
                if (kos_body_parse(rec.rq, rec.rq_len, &b, err, sizeof(err)) != 0 ||
                    b.approval != KOS_APPROVAL_FALSE || b.n_hits != f.n_hits || b.n_bad != 0 ||
                    memcmp(b.hits, f.hits, f.n_hits * sizeof(kos_hit_t)) != 0)
                        bad++;
                kos_body_clear(&b);
                if (f.respond) {
                        if (kos_body_parse(rec.rs, rec.rs_len, &b, err, sizeof(err)) != 0 ||
                            b.approval != KOS_APPROVAL_TRUE || b.n_hits != f.n_hits ||
                            memcmp(b.hits, f.hits, f.n_hits * sizeof(kos_hit_t)) != 0 ||
                            rec.rs_len != rec.rq_len - 1 || strcmp(rec.rs + 16, rec.rq + 17) != 0)
                                bad++;
                        kos_body_clear(&b);
                } else if (rec.rs_len != 0) {
                        bad++;
                }

                for (int i = 0; i < f.n_hits; i++) {
                        const kos_hit_t *x = &f.hits[i];
                        hits++;
                        dir[x->direction]++;
                        imp[x->impact_type]++;
                        keys[x->key]++;
                        if (x->impact_type != KOS_IMPACT_MISSED) {
                                violence[x->impact]++;
                                violent++;
                        } else if (x->impact != 0) {
                                bad++;
                        }
                        if (x->double_key != KOS_KEY_NONE || x->level != f.level ||
                            x->game != f.machine->game)
                                bad++;
                        /* Each hex string decodes to this hit. */
                        char hex[KOS_HIT_HEX_MAX + 1];
                        kos_hit_t back;
                        size_t n = kos_hit_encode_hex(x, hex);
                        if (!n || kos_hit_decode_hex(hex, n, &back) != KOS_HIT_OK ||
                            memcmp(&back, x, sizeof(back)) != 0)
                                bad++;
                }
        }
        CHECK_INT(bad, 0);
        fprintf(stderr, "  %llu frames, %llu hits\n", (unsigned long long)frames,
                (unsigned long long)hits);

        /* Direction UP 4, RIGHT 3, DOWN 2, LEFT 1; never absent. */
        CHECK_INT(dir[KOS_DIR_NONE], 0);
        CHECK(within_5_sigma(dir[KOS_DIR_UP], hits, 0.4));
        CHECK(within_5_sigma(dir[KOS_DIR_RIGHT], hits, 0.3));
        CHECK(within_5_sigma(dir[KOS_DIR_DOWN], hits, 0.2));
        CHECK(within_5_sigma(dir[KOS_DIR_LEFT], hits, 0.1));
        /* Impact Fatal 1, Critical 2, Special 2, Direct 10, Missed 5. */
        CHECK(within_5_sigma(imp[KOS_IMPACT_FATAL], hits, 1.0 / 20));
        CHECK(within_5_sigma(imp[KOS_IMPACT_CRITICAL], hits, 2.0 / 20));
        CHECK(within_5_sigma(imp[KOS_IMPACT_SPECIAL], hits, 2.0 / 20));
        CHECK(within_5_sigma(imp[KOS_IMPACT_DIRECT], hits, 10.0 / 20));
        CHECK(within_5_sigma(imp[KOS_IMPACT_MISSED], hits, 5.0 / 20));
        /* Key X:O = 1:1. */
        CHECK_INT(keys[KOS_KEY_NONE], 0);
        CHECK(within_5_sigma(keys[KOS_KEY_X], hits, 0.5));
        /* Violence uniform in 42..209, nothing outside. */
        for (int v = 0; v < 256; v++) {
                if (v < 42 || v > 209)
                        CHECK_INT(violence[v], 0);
                else
                        CHECK(within_5_sigma(violence[v], violent, 1.0 / 168));
        }
        /* Per frame: 1-5 hits uniform, level uniform, machine uniform, response 100/101. */
        CHECK_INT(nhits[0], 0);
        for (int n = 1; n <= 5; n++)
                CHECK(within_5_sigma(nhits[n], frames, 0.2));
        for (int l = 0; l < KOS_LEVEL_COUNT; l++)
                CHECK(within_5_sigma(level[l], frames, 1.0 / 3));
        for (size_t i = 0; i < m.n_machines; i++)
                CHECK(within_5_sigma(machine_use[i], frames, 1.0 / (double)m.n_machines));
        CHECK(within_5_sigma(responses, frames, 100.0 / 101));
        /* The weights table itself is the original's: UP 4, RIGHT 3, DOWN 2, LEFT 1; Direct 10. */
        CHECK_INT(kos_model_direction_weight[KOS_DIR_UP], 4);
        CHECK_INT(kos_model_direction_weight[KOS_DIR_RIGHT], 3);
        CHECK_INT(kos_model_direction_weight[KOS_DIR_DOWN], 2);
        CHECK_INT(kos_model_direction_weight[KOS_DIR_LEFT], 1);
        CHECK_INT(kos_model_impact_weight[KOS_IMPACT_DIRECT], 10);
}

/* Responses over more frames, where 1/101 misses are countable. */
static void test_response_rate(void)
{
        kos_model_t m;
        kos_model_init(&m, 7);
        kos_frame_t f;
        uint64_t n = 1010000, missing = 0;
        for (uint64_t i = 0; i < n; i++) {
                kos_model_next(&m, &f);
                missing += !f.respond;
        }
        CHECK(within_5_sigma(missing, n, 1.0 / 101));
}

static void test_reproducible(void)
{
        kos_model_t a, b, c;
        kos_model_init(&a, 99);
        kos_model_init(&b, 99);
        kos_model_init(&c, 100);
        static kos_frame_records_t ra, rb, rc;
        int same_ab = 1, same_ac = 1;
        CHECK(memcmp(a.machines, b.machines, sizeof(a.machines)) == 0);
        for (int i = 0; i < 5000; i++) {
                kos_frame_t fa, fb, fc;
                kos_model_next(&a, &fa);
                kos_model_next(&b, &fb);
                kos_model_next(&c, &fc);
                kos_model_encode(&fa, 1000 + i, &ra);
                kos_model_encode(&fb, 1000 + i, &rb);
                kos_model_encode(&fc, 1000 + i, &rc);
                same_ab &= ra.key_len == rb.key_len && strcmp(ra.key, rb.key) == 0 &&
                           strcmp(ra.rq, rb.rq) == 0 && ra.rs_len == rb.rs_len &&
                           (ra.rs_len == 0 || strcmp(ra.rs, rb.rs) == 0);
                same_ac &= strcmp(ra.key, rc.key) == 0 && strcmp(ra.rq, rc.rq) == 0;
        }
        CHECK(same_ab);
        CHECK(!same_ac);
        CHECK(kos_model_auto_seed("pod-a") != kos_model_auto_seed("pod-a"));
}

int main(void)
{
        test_rng();
        test_machines();
        test_distributions();
        test_response_rate();
        test_reproducible();
        return check_result("test_datagen_model");
}
