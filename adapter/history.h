/* What the lag engine remembers of each partition across refreshes: its commit window
 * (Burrow's rules, status.h), its end-offset and committed-offset rate rings (rates.h) and how
 * many refreshes its commit has not moved. After every successful refresh the lag engine hands
 * the new snapshot to kos_history_update, which advances the history and writes the derived
 * fields (rates, stuck, status, window) into the snapshot before it is published.
 * Thread: owned and used by the refresh thread only. */
#ifndef KOS_HISTORY_H
#define KOS_HISTORY_H

#include "snapshot.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
        int stuck_refreshes;            /* --stuck-refreshes: unmoved commits before "stuck" */
        int status_window;              /* --status-window: commits in Burrow's window */
        int64_t status_min_distance_ms; /* --status-min-distance: closer commits replace */
        int64_t rate_window_ms;         /* --rate-window: what the rates average over */
        int64_t drain_cap_ms; /* --time-to-drain-max: value of a group that does not gain */
} kos_history_opts_t;

void kos_history_opts_defaults(kos_history_opts_t *o);

/* Parses one of the flags above ("--stuck-refreshes", ...) into o.
 * @returns 0, 1 if flag is not one of them, or -1 with errstr naming the flag. */
int kos_history_flag(kos_history_opts_t *o, const char *flag, const char *value, char *errstr,
                     size_t errstr_size);

typedef struct kos_history_s kos_history_t;

/* @returns a new empty history (opts copied), or NULL when out of memory. */
kos_history_t *kos_history_new(const kos_history_opts_t *opts);
void kos_history_destroy(kos_history_t *h); /* NULL is a no-op */

/* Advances the history with snapshot s (sorted: kos_snapshot_finish; lags computed, members
 * attributed) observed at mono_ms (monotonic) / wall_ms, and fills s's derived fields.
 * Partitions and groups absent from s are forgotten. -1 when out of memory (then s has no
 * history: has_history stays 0, and the history starts over). */
int kos_history_update(kos_history_t *h, kos_snapshot_t *s, int64_t mono_ms, int64_t wall_ms);

#endif
