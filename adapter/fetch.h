/* The fetcher: reads the facts requests wait for (fact.h) from kube-apiserver, one call per
 * key however many requests need it, all calls in flight at once on one thread (a curl multi;
 * at most max_inflight, the rest queued in order), so no request waits behind another
 * client's review. When a call ends, the fact's store keeps the answer in its owner's cache
 * and every waiter is woken (server.c resumes their connections; they dispatch again and find
 * it there).
 * Thread notes: kos_fetch_wait and kos_fetch_close may be called from any thread; wake
 * callbacks run on the fetcher's thread (or in kos_fetch_close), never with a lock held. */
#ifndef KOS_FETCH_H
#define KOS_FETCH_H

#include "fact.h"
#include "kube.h"

#include <stdint.h>

typedef struct kos_fetch_s kos_fetch_t;

typedef void (*kos_fetch_wake_fn)(void *arg);

/* kube is borrowed and must outlive the fetcher. Starts the thread. NULL + errstr on error. */
kos_fetch_t *kos_fetch_new(kos_kube_t *kube, int max_inflight, char *errstr, size_t errstr_size);

/* Waits for fact (ownership taken, always): wake(arg) is called once when its call has ended
 * and been stored. 0 when registered (joining a call in flight for the same key if there is
 * one); -1 when the fetcher is closed (wake is not called). */
int kos_fetch_wait(kos_fetch_t *f, kos_fact_t *fact, kos_fetch_wake_fn wake, void *arg);

/* Refuses new waiters and wakes every waiting one now (their facts stay missing). */
void kos_fetch_close(kos_fetch_t *f);

/* Closes, stops the thread, drops calls in flight (nothing stored). NULL is a no-op. */
void kos_fetch_destroy(kos_fetch_t *f);

#endif
