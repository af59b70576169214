/* The read-only JSON debug view of consumer groups (GET /debug/groups, /debug/groups/<id>):
 * what the adapter knows of each group and why it judges it so — offsets, owners, rates,
 * stuck partitions, Burrow status and the commit window it was judged on. Pure rendering of a
 * snapshot; every function returns a new malloc'ed NUL-terminated string (free()) and its
 * length, or NULL when out of memory. */
#ifndef KOS_DEBUGVIEW_H
#define KOS_DEBUGVIEW_H

#include "snapshot.h"

#include <stddef.h>
#include <stdint.h>

/* {"groups":[{"group","state","groupStatus","groupStatusCode","lag","stuckPartitions"}...]} */
char *kos_debug_groups_json(const kos_snapshot_t *snap, size_t *len);

/* One group in full (see README "Debug view"). */
char *kos_debug_group_json(const kos_snapshot_t *snap, const kos_group_lag_t *g, size_t *len);

#endif
