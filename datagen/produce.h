/* The produce loop of kos-datagen: paces frames with the token bucket (rate from --rate, the
 * --profile schedule or the controller), encodes them with the model, produces the request and
 * the response, serves delivery reports into the stats, and on stop flushes within a bound. */
#ifndef KOS_DG_PRODUCE_H
#define KOS_DG_PRODUCE_H

#include "control.h"
#include "model.h"
#include "rate.h"
#include "stats.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct {
        double rate;                  /* initial target (KOS_RATE_MAX = as fast as possible) */
        const kos_profile_t *profile; /* NULL: no schedule */
        int64_t duration_ms;          /* 0 = unbounded */
        uint64_t count;               /* frames; 0 = unbounded */
        int ts_virtual;               /* 1: header ts = ts_start + i * ts_step */
        int64_t ts_start, ts_step;
        int64_t flush_timeout_ms;
        int64_t stats_interval_ms; /* progress line period; 0 = none (figures still 1/s) */
} kos_produce_opts_t;

typedef struct {
        rd_kafka_t *rk;                     /* borrowed */
        rd_kafka_topic_t *rkt[KOS_T_COUNT]; /* borrowed */
        kos_model_t *model;                 /* borrowed */
        kos_stats_t *stats;                 /* borrowed; also the rk's opaque (delivery reports) */
        kos_control_t *ctl;                 /* borrowed */
        atomic_int running;                 /* 1 while generating: /readyz */
        atomic_int fatal;                   /* 1 after a fatal producer error: /healthz */
        /* Loop state (private). */
        const kos_produce_opts_t *opts;
        int64_t next_tick_ns, next_log_ns;
} kos_producer_t;

/* The delivery report callback to install on the producer's conf, with the stats as opaque. */
void kos_produce_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* Runs until --count, --duration, the end of the profile, a stop request or a fatal error;
 * then flushes. @returns the exit code: 0, or 1 if any record failed for good. */
int kos_produce_run(kos_producer_t *p, const kos_produce_opts_t *o);

#endif
