/* Kubernetes label selectors: the text grammar of k8s.io/apimachinery labels.Parse (what
 * labels.Selector.String() prints and the HPA sends), matching against any label storage, and
 * rendering as a metav1.LabelSelector JSON object. Pure: no I/O, no globals.
 * Thread notes: a parsed selector belongs to its request (one HTTP worker thread); the
 * functions share nothing, so any thread may call them. */
#ifndef KOS_SELECTOR_H
#define KOS_SELECTOR_H

#include <stddef.h>

/* Input bounds, so a hostile selector cannot burn memory or time. */
#define KOS_SELECTOR_MAX_LEN    16384 /* bytes of selector text */
#define KOS_SELECTOR_MAX_REQS   256   /* requirements per selector */
#define KOS_SELECTOR_MAX_VALUES 256   /* values per in/notin requirement */

typedef enum {
        KOS_SEL_EQ,         /* k=v, k==v */
        KOS_SEL_NEQ,        /* k!=v */
        KOS_SEL_IN,         /* k in (a,b) */
        KOS_SEL_NOTIN,      /* k notin (a,b) */
        KOS_SEL_EXISTS,     /* k */
        KOS_SEL_NOT_EXISTS, /* !k */
        KOS_SEL_GT,         /* k>5 */
        KOS_SEL_LT          /* k<5 */
} kos_sel_op_t;

typedef struct {
        char *key; /* owned */
        kos_sel_op_t op;
        char **values; /* owned; sorted, no duplicates; 0 for exists/!exists, 1 for eq/neq/gt/lt */
        size_t n_values;
} kos_sel_req_t;

typedef struct kos_selector_s {
        kos_sel_req_t *reqs; /* owned; sorted by key (stable) like apimachinery */
        size_t n_reqs;
} kos_selector_t;

/* Parses a selector. "" or all-whitespace selects everything (n_reqs 0). `in ()` and empty
 * list items (`in (a,,b)`) mean the empty value, exactly as apimachinery does.
 * @returns a new selector, free with kos_selector_destroy; or NULL with errstr set to an
 * apimachinery-like message ("unable to parse requirement: found '(', expected: identifier"). */
kos_selector_t *kos_selector_parse(const char *text, char *errstr, size_t errstr_size);

/* Frees sel and everything it owns. NULL is a no-op. */
void kos_selector_destroy(kos_selector_t *sel);

/* Label lookup callback so callers can match any label storage.
 * @returns the value of label `key` (borrowed), or NULL if the label is absent. */
typedef const char *(*kos_label_get_fn)(void *opaque, const char *key);

/* @returns 1 if the labels seen through `get` satisfy every requirement, else 0. NULL or empty
 * sel matches everything. `!=` and `notin` match an absent label; gt/lt need the label to parse
 * as a base-10 int64. */
int kos_selector_matches(const kos_selector_t *sel, kos_label_get_fn get, void *opaque);

/* @returns the value required for `key` by the first `=`/`==` or single-value `in`
 * requirement on it (borrowed from sel), or NULL. */
const char *kos_selector_equals_value(const kos_selector_t *sel, const char *key);

/* Renders sel as a metav1.LabelSelector JSON object into buf (NUL-terminated):
 * `=`/`==` go to matchLabels (a second equality on the same key becomes an In expression),
 * everything else to matchExpressions with operator In, NotIn (also for `!=`), Exists,
 * DoesNotExist, Gt or Lt. Empty lists are omitted; NULL or empty sel renders "null".
 * @returns the length written (without the NUL), or -1 if buf is too small. */
int kos_selector_to_json(const kos_selector_t *sel, char *buf, size_t size);

#endif
