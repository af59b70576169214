/* The original generator's distributions (see model.h). Every draw goes through kos_rng_t in
 * a fixed order, which is what makes a seeded run replay exactly. */
#include "model.h"
#include "clock.h"

#include <string.h>
#include <unistd.h>

const uint32_t kos_model_direction_weight[KOS_DIR_COUNT] = {
    [KOS_DIR_UP] = 4, [KOS_DIR_RIGHT] = 3, [KOS_DIR_DOWN] = 2, [KOS_DIR_LEFT] = 1};
const uint32_t kos_model_impact_weight[KOS_IMPACT_COUNT] = {[KOS_IMPACT_FATAL] = 1,
                                                            [KOS_IMPACT_CRITICAL] = 2,
                                                            [KOS_IMPACT_SPECIAL] = 2,
                                                            [KOS_IMPACT_DIRECT] = 10,
                                                            [KOS_IMPACT_MISSED] = 5};

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

void kos_rng_seed(kos_rng_t *r, uint64_t seed)
{
        for (int i = 0; i < 4; i++)
                r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

uint64_t kos_rng_next(kos_rng_t *r)
{
        uint64_t *s = r->s;
        uint64_t result = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

uint32_t kos_rng_below(kos_rng_t *r, uint32_t n)
{
        uint64_t m = (uint64_t)(uint32_t)(kos_rng_next(r) >> 32) * n;
        uint32_t low = (uint32_t)m;
        if (low < n) {
                uint32_t threshold = (uint32_t)(-n) % n;
                while (low < threshold) {
                        m = (uint64_t)(uint32_t)(kos_rng_next(r) >> 32) * n;
                        low = (uint32_t)m;
                }
        }
        return (uint32_t)(m >> 32);
}

uint32_t kos_rng_range(kos_rng_t *r, uint32_t lo, uint32_t hi)
{
        return lo + kos_rng_below(r, hi - lo + 1);
}

static int weighted(kos_rng_t *r, const uint32_t *w, int n, uint32_t total)
{
        uint32_t x = kos_rng_below(r, total);
        for (int i = 0; i < n; i++) {
                if (x < w[i])
                        return i;
                x -= w[i];
        }
        return n - 1; /* unreachable with a correct total */
}

void kos_model_init(kos_model_t *m, uint64_t seed)
{
        memset(m, 0, sizeof(*m));
        kos_rng_seed(&m->rng, seed);
        m->n_machines = kos_rng_range(&m->rng, KOS_MODEL_MIN_MACHINES, KOS_MODEL_MAX_MACHINES);
        for (size_t i = 0; i < m->n_machines; i++) {
                kos_machine_t *mc = &m->machines[i];
                /* The original drew a set of machines: ids are distinct. */
                for (int dup = 1; dup;) {
                        mc->id = kos_rng_range(&m->rng, KOS_MODEL_MIN_ID, KOS_MODEL_MAX_ID);
                        dup = 0;
                        for (size_t j = 0; j < i; j++)
                                dup |= m->machines[j].id == mc->id;
                }
                mc->zone = (uint8_t)kos_rng_below(&m->rng, KOS_ZONE_COUNT);
                mc->game = (uint8_t)kos_rng_below(&m->rng, KOS_GAME_COUNT);
        }
}

void kos_model_next(kos_model_t *m, kos_frame_t *f)
{
        kos_rng_t *r = &m->rng;
        f->machine = &m->machines[kos_rng_below(r, (uint32_t)m->n_machines)];
        f->level = (uint8_t)kos_rng_below(r, KOS_LEVEL_COUNT);
        f->n_hits = (uint8_t)kos_rng_range(r, KOS_MODEL_MIN_HITS, KOS_MODEL_MAX_HITS);
        for (int i = 0; i < f->n_hits; i++) {
                kos_hit_t *h = &f->hits[i];
                h->key = kos_rng_below(r, 2) ? KOS_KEY_O : KOS_KEY_X;
                uint8_t violence =
                    (uint8_t)kos_rng_range(r, KOS_MODEL_MIN_VIOLENCE, KOS_MODEL_MAX_VIOLENCE);
                h->direction = (uint8_t)weighted(r, kos_model_direction_weight, KOS_DIR_COUNT, 10);
                h->impact_type =
                    (uint8_t)weighted(r, kos_model_impact_weight, KOS_IMPACT_COUNT, 20);
                h->impact = h->impact_type == KOS_IMPACT_MISSED ? 0 : violence;
                h->double_key = KOS_KEY_NONE;
                h->level = f->level;
                h->game = f->machine->game;
        }
        f->respond = kos_rng_below(r, KOS_MODEL_RESPONSE_DEN) < KOS_MODEL_RESPONSE_NUM;
}

void kos_model_encode(const kos_frame_t *f, int64_t ts, kos_frame_records_t *out)
{
        kos_frame_header_t h = {.ts = ts, .zone = f->machine->zone};
        kos_header_set_machine_id(&h, f->machine->id);
        out->key_len = kos_header_json(&h, out->key, sizeof(out->key));
        out->rq_len =
            kos_body_json(KOS_APPROVAL_FALSE, f->hits, f->n_hits, out->rq, sizeof(out->rq));
        out->rs_len = 0;
        if (f->respond) {
                /* Same body with approval true: patch the prefix instead of encoding again. */
                static const char pfx_false[] = "{\"approval\":false";
                static const char pfx_true[] = "{\"approval\":true";
                size_t tail = out->rq_len - (sizeof(pfx_false) - 1);
                memcpy(out->rs, pfx_true, sizeof(pfx_true) - 1);
                memcpy(out->rs + sizeof(pfx_true) - 1, out->rq + sizeof(pfx_false) - 1, tail + 1);
                out->rs_len = sizeof(pfx_true) - 1 + tail;
        }
}

uint64_t kos_model_auto_seed(const char *pod_name)
{
        uint64_t x = (uint64_t)kos_wall_ms();
        uint64_t seed = splitmix64(&x);
        x ^= (uint64_t)kos_mono_ns() << 20 ^ (uint64_t)getpid();
        seed ^= splitmix64(&x);
        /* FNV-1a of the pod name: two replicas started in the same nanosecond still differ. */
        uint64_t hsh = 0xcbf29ce484222325ULL;
        for (const char *p = pod_name ? pod_name : ""; *p; p++)
                hsh = (hsh ^ (unsigned char)*p) * 0x100000001b3ULL;
        x ^= hsh;
        return seed ^ splitmix64(&x);
}
