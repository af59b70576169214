/* Derived metrics over selected partitions (see derived.h). */
#include "derived.h"
#include "rates.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const names[KOS_DERIVED_METRICS] = {
    KOS_METRIC_PRODUCE_RATE, KOS_METRIC_CONSUME_RATE, KOS_METRIC_TIME_TO_DRAIN, KOS_METRIC_STUCK,
    KOS_METRIC_STATUS};

const char *kos_derived_metric(size_t i)
{
        return i < KOS_DERIVED_METRICS ? names[i] : NULL;
}

int kos_derived_is_metric(const char *name)
{
        for (size_t i = 0; i < KOS_DERIVED_METRICS; i++)
                if (strcmp(name, names[i]) == 0)
                        return 1;
        return 0;
}

int kos_derived_exclude_param(const kos_selector_t *sel, int *exclude, char *msg, size_t msg_size)
{
        *exclude = 0;
        for (size_t i = 0; sel && i < sel->n_reqs; i++) {
                const kos_sel_req_t *r = &sel->reqs[i];
                if (strcmp(r->key, KOS_PARAM_EXCLUDE_STUCK) != 0)
                        continue;
                if (r->op != KOS_SEL_EQ || r->n_values != 1 ||
                    (strcmp(r->values[0], "true") != 0 && strcmp(r->values[0], "false") != 0)) {
                        snprintf(msg, msg_size, "%s is a parameter: give it as %s=true or %s=false",
                                 KOS_PARAM_EXCLUDE_STUCK, KOS_PARAM_EXCLUDE_STUCK,
                                 KOS_PARAM_EXCLUDE_STUCK);
                        return -1;
                }
                if (strcmp(r->values[0], "true") == 0)
                        *exclude = 1;
        }
        return 0;
}

void kos_derived_init(kos_derived_acc_t *a)
{
        memset(a, 0, sizeof(*a));
        a->status = KOS_STATUS_OK;
}

void kos_derived_add(kos_derived_acc_t *a, const kos_part_lag_t *p, int counted)
{
        a->n_stuck += p->stuck != 0;
        a->status = kos_status_fold(a->status, p->status);
        if (!counted)
                return;
        a->n_parts++;
        a->lag = p->lag < 0 || a->lag < 0 ? -1 : a->lag + p->lag;
        /* A partition without rates yet (new, or its offsets just went backwards) adds none;
         * the value is unknown only when no counted partition has rates. */
        if (p->produce_rate >= 0 && p->consume_rate >= 0) {
                a->produce += p->produce_rate;
                a->consume += p->consume_rate;
                a->n_rates++;
        }
}

/* milli-units, saturating: a Quantity holds an int64 */
static int64_t milli(double v)
{
        double m = round(v * 1000.0);
        return m >= 9.2e18 ? INT64_MAX : (int64_t)m;
}

int kos_derived_value(const kos_derived_acc_t *a, const kos_snapshot_t *snap, const char *metric,
                      int64_t *value, int *scale, char *msg, size_t msg_size)
{
        if (!snap->has_history) {
                snprintf(msg, msg_size, "%s needs the history of earlier refreshes; retry shortly",
                         metric);
                return -1;
        }
        *scale = 0;
        if (strcmp(metric, KOS_METRIC_STUCK) == 0) {
                *value = (int64_t)a->n_stuck;
                return 0;
        }
        if (strcmp(metric, KOS_METRIC_STATUS) == 0) {
                *value = a->status;
                return 0;
        }
        int rates_known = a->n_rates > 0 || a->n_parts == 0;
        if (!rates_known) {
                snprintf(msg, msg_size,
                         "%s is not known yet: it needs two refreshes within the rate window",
                         metric);
                return -1;
        }
        *scale = 3;
        if (strcmp(metric, KOS_METRIC_PRODUCE_RATE) == 0) {
                *value = milli(a->produce);
                return 0;
        }
        if (strcmp(metric, KOS_METRIC_CONSUME_RATE) == 0) {
                *value = milli(a->consume);
                return 0;
        }
        if (a->lag < 0) {
                snprintf(msg, msg_size, "%s is unknown: an end offset could not be read", metric);
                return -1;
        }
        *value = milli(kos_drain_seconds(a->lag, a->consume, a->produce, snap->drain_cap_s));
        return 0;
}
