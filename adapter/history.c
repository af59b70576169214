/* Per-partition history across refreshes (see history.h). The history is a sorted copy of
 * the snapshot's (group, topic, partition) keys; each update walks the new snapshot, carries
 * over what it knew of each key and forgets the rest, so its size follows the cluster. */
#include "history.h"
#include "xalloc.h"
#include "duration.h"
#include "rates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        char *topic; /* owned */
        int32_t partition;
        kos_commit_t *win; /* ring of opts.status_window commits, win[(win_head + i) % cap] */
        size_t win_head, win_n;
        int64_t last_committed; /* as of the previous refresh; KOS_OFFSET_UNKNOWN none */
        int seen;               /* last_committed is meaningful */
        int unchanged;
        kos_rate_ring_t end_ring, commit_ring;
} part_hist_t;

typedef struct {
        char *group_id;     /* owned */
        part_hist_t *parts; /* sorted by (topic, partition) */
        size_t n_parts;
} group_hist_t;

struct kos_history_s {
        kos_history_opts_t opts;
        group_hist_t *groups; /* sorted by group_id */
        size_t n_groups;
};

void kos_history_opts_defaults(kos_history_opts_t *o)
{
        o->stuck_refreshes = 5;
        o->status_window = 10;            /* Burrow's storage intervals */
        o->status_min_distance_ms = 1000; /* Burrow's min-distance */
        o->rate_window_ms = 30000;
        o->drain_cap_ms = 3600000;
}

int kos_history_flag(kos_history_opts_t *o, const char *flag, const char *value, char *errstr,
                     size_t errstr_size)
{
        long long n;
        int64_t ms;
        if (strcmp(flag, "--stuck-refreshes") == 0) {
                if (kos_parse_int(flag, value, 1, 100000, &n, errstr, errstr_size) == -1)
                        return -1;
                o->stuck_refreshes = (int)n;
        } else if (strcmp(flag, "--status-window") == 0) {
                /* one commit spans no time: Burrow's STOP rule would fire on every lag */
                if (kos_parse_int(flag, value, 2, 1000, &n, errstr, errstr_size) == -1)
                        return -1;
                o->status_window = (int)n;
        } else if (strcmp(flag, "--status-min-distance") == 0) {
                if (kos_parse_duration_ms(flag, value, &ms, errstr, errstr_size) == -1)
                        return -1;
                if (ms > 3600000) {
                        snprintf(errstr, errstr_size, "%s: at most 1h", flag);
                        return -1;
                }
                o->status_min_distance_ms = ms;
        } else if (strcmp(flag, "--rate-window") == 0) {
                if (kos_parse_duration_range_ms(flag, value, 1000, 3600000, "between 1s and 1h",
                                                &ms, errstr, errstr_size) == -1)
                        return -1;
                o->rate_window_ms = ms;
        } else if (strcmp(flag, "--time-to-drain-max") == 0) {
                if (kos_parse_duration_range_ms(flag, value, 1000, 30LL * 86400000,
                                                "between 1s and 30 days", &ms, errstr,
                                                errstr_size) == -1)
                        return -1;
                o->drain_cap_ms = ms;
        } else {
                return 1;
        }
        return 0;
}

kos_history_t *kos_history_new(const kos_history_opts_t *opts)
{
        kos_history_t *h = kos_xcalloc(1, sizeof(*h));
        if (h)
                h->opts = *opts;
        return h;
}

static void part_free(part_hist_t *p)
{
        free(p->topic);
        free(p->win);
}

static void groups_free(group_hist_t *g, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(g[i].group_id);
                for (size_t j = 0; j < g[i].n_parts; j++)
                        part_free(&g[i].parts[j]);
                free(g[i].parts);
        }
        free(g);
}

void kos_history_destroy(kos_history_t *h)
{
        if (!h)
                return;
        groups_free(h->groups, h->n_groups);
        free(h);
}

static group_hist_t *find_group(kos_history_t *h, const char *id)
{
        size_t lo = 0, hi = h->n_groups;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(h->groups[mid].group_id, id);
                if (c == 0)
                        return &h->groups[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static part_hist_t *find_part(group_hist_t *g, const char *topic, int32_t partition)
{
        size_t lo = 0, hi = g ? g->n_parts : 0;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const part_hist_t *p = &g->parts[mid];
                int c = strcmp(p->topic, topic);
                if (c == 0)
                        c = (p->partition > partition) - (p->partition < partition);
                if (c == 0)
                        return &g->parts[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* Burrow's storage: a commit closer than min-distance to the newest one replaces it and keeps
 * the newest one's time (so frequent commits still make new entries now and then). */
static void window_add(part_hist_t *ph, size_t cap, int64_t min_distance_ms, kos_commit_t c)
{
        if (ph->win_n > 0) {
                kos_commit_t *last = &ph->win[(ph->win_head + ph->win_n - 1) % cap];
                if (c.t_ms - last->t_ms < min_distance_ms) {
                        last->offset = c.offset;
                        last->lag = c.lag;
                        return;
                }
        }
        if (ph->win_n == cap) {
                ph->win_head = (ph->win_head + 1) % cap;
                ph->win_n--;
        }
        ph->win[(ph->win_head + ph->win_n) % cap] = c;
        ph->win_n++;
}

/* One partition's step. A commit is only visible to us as a change of the committed offset;
 * an unchanged offset whose partition has a live owner is counted as that owner committing
 * the same offset again (what Burrow sees from a live consumer that cannot move), while one
 * without an owner adds nothing, so its window ages into Burrow's STOP. */
static int observe(const kos_history_opts_t *o, part_hist_t *ph, kos_part_lag_t *p, int64_t mono_ms,
                   int64_t wall_ms)
{
        size_t cap = (size_t)o->status_window;
        if (!ph->win && !(ph->win = kos_xcalloc(cap, sizeof(*ph->win))))
                return -1;
        int64_t committed = p->committed >= 0 ? p->committed : KOS_OFFSET_UNKNOWN;
        int owned = p->member >= 0;
        int moved = !ph->seen || committed != ph->last_committed;
        if (!moved && p->lag > 0 && owned)
                ph->unchanged++;
        else
                ph->unchanged = 0;
        if (committed >= 0 && p->lag >= 0 && (moved || owned || ph->win_n == 0))
                window_add(ph, cap, o->status_min_distance_ms,
                           (kos_commit_t){committed, p->lag, mono_ms, wall_ms});
        if (committed < 0)
                ph->win_n = 0; /* a deleted commit starts a new window */
        ph->last_committed = committed;
        ph->seen = 1;
        if (p->end >= 0)
                kos_rate_ring_observe(&ph->end_ring, mono_ms, p->end, o->rate_window_ms);
        kos_rate_ring_observe(&ph->commit_ring, mono_ms, committed, o->rate_window_ms);

        p->produce_rate = kos_rate_ring_rate(&ph->end_ring, o->rate_window_ms);
        p->consume_rate = kos_rate_ring_rate(&ph->commit_ring, o->rate_window_ms);
        p->unchanged = ph->unchanged;
        p->stuck = ph->unchanged >= o->stuck_refreshes;
        free(p->window);
        p->n_window = 0;
        if (!(p->window = kos_xmalloc((ph->win_n ? ph->win_n : 1) * sizeof(*p->window))))
                return -1;
        for (size_t i = 0; i < ph->win_n; i++)
                p->window[i] = ph->win[(ph->win_head + i) % cap];
        p->n_window = ph->win_n;
        /* An owned partition gets an entry every refresh, so it is judged once its window is
         * full: a restart of the adapter never flashes STALL from a one-entry window. One
         * without an owner gets entries only when it moves: judged at once, so a group nobody
         * consumes is a STOP as soon as its commits are older than its window spans. */
        if (p->lag < 0)
                p->status = KOS_STATUS_NOTFOUND;
        else if (owned && ph->win_n < cap)
                p->status = KOS_STATUS_OK;
        else
                p->status = kos_status_partition(p->window, p->n_window, p->lag, mono_ms);
        return 0;
}

int kos_history_update(kos_history_t *h, kos_snapshot_t *s, int64_t mono_ms, int64_t wall_ms)
{
        group_hist_t *ng = kos_xcalloc(s->n_groups ? s->n_groups : 1, sizeof(*ng));
        size_t nn = 0;
        if (!ng)
                goto oom;
        for (size_t i = 0; i < s->n_groups; i++) {
                kos_group_lag_t *g = &s->groups[i];
                group_hist_t *old = find_group(h, g->group_id);
                group_hist_t *gh = &ng[nn];
                if (!(gh->group_id = kos_xstrdup(g->group_id)) ||
                    !(gh->parts = kos_xcalloc(g->n_parts ? g->n_parts : 1, sizeof(*gh->parts))))
                        goto oom_partial;
                nn++;
                g->status = KOS_STATUS_OK;
                g->n_stuck = 0;
                for (size_t j = 0; j < g->n_parts; j++) {
                        kos_part_lag_t *p = &g->parts[j];
                        part_hist_t *ph = &gh->parts[gh->n_parts];
                        part_hist_t *prev = find_part(old, p->topic, p->partition);
                        if (!(ph->topic = kos_xstrdup(p->topic)))
                                goto oom_partial;
                        ph->partition = p->partition;
                        if (prev) {
                                /* carried over; the old entry keeps its key for the bisection
                                 * and gives up its window */
                                char *topic = ph->topic;
                                *ph = *prev;
                                ph->topic = topic;
                                prev->win = NULL;
                        }
                        gh->n_parts++;
                        if (observe(&h->opts, ph, p, mono_ms, wall_ms) == -1)
                                goto oom_partial;
                        g->status = kos_status_fold(g->status, p->status);
                        g->n_stuck += p->stuck != 0;
                }
        }
        groups_free(h->groups, h->n_groups);
        h->groups = ng;
        h->n_groups = nn;
        s->has_history = 1;
        s->drain_cap_s = (double)h->opts.drain_cap_ms / 1000.0;
        s->rate_window_ms = h->opts.rate_window_ms;
        return 0;
oom_partial:
        groups_free(ng, nn);
oom:
        /* what was moved out of the old history is gone with ng: start over */
        groups_free(h->groups, h->n_groups);
        h->groups = NULL;
        h->n_groups = 0;
        return -1;
}
