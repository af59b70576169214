/* Group partitions from group metadata, checked (see groupparts.h). Everything here is sort
 * based, O(n log n) in the number of entries: a member's assignment can hold a quarter of a
 * million entries (the broker only bounds the group's record at about 1 MB), so nothing may
 * scan the list per entry or allocate by the largest partition number it names. */
#include "groupparts.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static int count_cmp(const void *a, const void *b)
{
        return strcmp(((const kos_topic_count_t *)a)->name, ((const kos_topic_count_t *)b)->name);
}

void kos_topic_counts_sort(kos_topic_counts_t *t)
{
        if (t->n < 2)
                return;
        qsort(t->v, t->n, sizeof(*t->v), count_cmp);
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++) {
                if (k > 0 && strcmp(t->v[k - 1].name, t->v[i].name) == 0) {
                        if (t->v[i].partitions > t->v[k - 1].partitions)
                                t->v[k - 1].partitions = t->v[i].partitions;
                        continue;
                }
                t->v[k++] = t->v[i];
        }
        t->n = k;
}

int32_t kos_topic_counts_get(const kos_topic_counts_t *t, const char *topic)
{
        if (!t || !t->n || !topic)
                return 0;
        kos_topic_count_t key = {.name = topic};
        const kos_topic_count_t *c = bsearch(&key, t->v, t->n, sizeof(*t->v), count_cmp);
        return c ? c->partitions : 0;
}

const char *kos_gp_reason_name(kos_gp_reason_t r)
{
        switch (r) {
        case KOS_GP_BAD_PARTITION:
                return "bad_partition";
        case KOS_GP_UNKNOWN_TOPIC:
                return "unknown_topic";
        case KOS_GP_DUPLICATE:
                return "duplicate";
        default:
                return "other";
        }
}

void kos_gp_printable(char *dst, size_t size, const char *src)
{
        size_t k = 0;
        for (; src && src[k] && k + 1 < size; k++)
                dst[k] = src[k] >= 0x20 && src[k] < 0x7f ? src[k] : '?';
        if (size)
                dst[k] = '\0';
}

void kos_gp_reject(kos_gp_rejects_t *r, const char *topic, int32_t partition, int member,
                   kos_gp_reason_t why)
{
        r->count[why]++;
        if (!r->has_first) {
                r->has_first = 1;
                kos_gp_printable(r->first_topic, sizeof(r->first_topic), topic);
                r->first_partition = partition;
                r->first_member = member < 0 ? -1 : member;
                r->first_reason = why;
        }
}

/* Entries in (topic, partition) order; within one partition the committed offset first, then
 * the members by index, so the lowest index is the one that keeps a partition listed twice;
 * ties in input order (qsort is not stable), so the first of two commits is the one kept. */
static int entry_cmp(const void *a, const void *b)
{
        const kos_gp_entry_t *x = *(const kos_gp_entry_t *const *)a;
        const kos_gp_entry_t *y = *(const kos_gp_entry_t *const *)b;
        int c = strcmp(x->topic, y->topic);
        if (c)
                return c;
        if (x->partition != y->partition)
                return (x->partition > y->partition) - (x->partition < y->partition);
        int mx = x->member < 0 ? -1 : x->member, my = y->member < 0 ? -1 : y->member;
        if (mx != my)
                return (mx > my) - (mx < my);
        return (x > y) - (x < y);
}

static int valid(const kos_topic_counts_t *topics, const kos_gp_entry_t *e)
{
        if (!e->topic || e->partition < 0)
                return 0;
        int32_t count = kos_topic_counts_get(topics, e->topic);
        return count == 0 || e->partition < count;
}

long kos_group_parts_build(const kos_topic_counts_t *topics, const kos_gp_entry_t *in, size_t n,
                           kos_part_lag_t *out, kos_gp_rejects_t *rej)
{
        if (n == 0)
                return 0;
        const kos_gp_entry_t **ok = kos_xmalloc(n * sizeof(*ok));
        size_t n_ok = 0;
        for (size_t i = 0; i < n; i++) {
                if (valid(topics, &in[i]))
                        ok[n_ok++] = &in[i];
                else
                        kos_gp_reject(rej, in[i].topic, in[i].partition, in[i].member,
                                      KOS_GP_BAD_PARTITION);
        }
        qsort(ok, n_ok, sizeof(*ok), entry_cmp);
        long k = 0;
        for (size_t i = 0; i < n_ok;) {
                const kos_gp_entry_t *e = ok[i];
                kos_part_lag_t *p = &out[k];
                memset(p, 0, sizeof(*p));
                p->topic = kos_xstrdup(e->topic);
                p->partition = e->partition;
                p->committed = KOS_OFFSET_UNKNOWN;
                p->end = KOS_OFFSET_UNKNOWN;
                p->log_start = KOS_OFFSET_UNKNOWN;
                p->lag = -1;
                p->head_ts_ms = -1;
                p->member = -1;
                int has_committed = 0;
                for (; i < n_ok && ok[i]->partition == e->partition &&
                       strcmp(ok[i]->topic, e->topic) == 0;
                     i++) {
                        const kos_gp_entry_t *d = ok[i];
                        if (d->member < 0 && !has_committed) {
                                p->committed = d->committed;
                                has_committed = 1;
                        } else if (d->member >= 0 && p->member < 0) {
                                p->member = d->member;
                        } else {
                                kos_gp_reject(rej, d->topic, d->partition, d->member,
                                              KOS_GP_DUPLICATE);
                        }
                }
                k++;
        }
        free(ok);
        return k;
}

/* Parts in partition-number order (ties by position, so the result does not depend on qsort). */
static int by_number_cmp(const void *a, const void *b)
{
        const kos_part_lag_t *x = *(const kos_part_lag_t *const *)a;
        const kos_part_lag_t *y = *(const kos_part_lag_t *const *)b;
        if (x->partition != y->partition)
                return (x->partition > y->partition) - (x->partition < y->partition);
        return (x > y) - (x < y);
}

int kos_group_parts_attribute(kos_part_lag_t *parts, size_t n)
{
        int unassigned = 0, assigned = 0;
        for (size_t i = 0; i < n; i++) {
                unassigned |= parts[i].member < 0;
                assigned |= parts[i].member >= 0;
        }
        if (!unassigned || !assigned)
                return 0;
        kos_part_lag_t **by = kos_xmalloc(n * sizeof(*by));
        for (size_t i = 0; i < n; i++)
                by[i] = &parts[i];
        qsort(by, n, sizeof(*by), by_number_cmp);
        for (size_t i = 0; i < n;) {
                size_t end = i;
                int owner = -1; /* -2: held by two members, leave it alone */
                for (; end < n && by[end]->partition == by[i]->partition; end++) {
                        int m = by[end]->member;
                        if (m < 0)
                                continue;
                        if (owner == -1)
                                owner = m;
                        else if (owner != m)
                                owner = -2;
                }
                for (; i < end; i++)
                        if (by[i]->member < 0 && owner >= 0)
                                by[i]->member = owner;
        }
        free(by);
        return 0;
}
