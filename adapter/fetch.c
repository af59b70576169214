/* Coalesced, concurrent fetching of facts over one curl multi (see fetch.h). */
#include "fetch.h"
#include "xalloc.h"
#include "log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        kos_fetch_wake_fn fn;
        void *arg;
} waiter_t;

/* One call: its fact and everyone waiting for it. */
typedef struct flight_s {
        kos_fact_t *fact;
        waiter_t *waiters;
        size_t n_waiters, cap_waiters;
        kos_kube_req_t *req; /* NULL while queued */
        struct flight_s *next;
} flight_t;

struct kos_fetch_s {
        kos_kube_t *kube;
        CURLM *multi;
        int max_inflight;
        pthread_t thread;
        int started;
        pthread_mutex_t lock; /* flights, closed, stop */
        flight_t *flights;    /* queued and running, oldest first */
        int running;
        int closed, stop;
};

static void flight_free(flight_t *fl)
{
        kos_fact_free(fl->fact);
        free(fl->waiters);
        free(fl);
}

/* Takes fl out of the list; the caller holds the lock. */
static void unlink_flight(kos_fetch_t *f, flight_t *fl)
{
        for (flight_t **pp = &f->flights; *pp; pp = &(*pp)->next)
                if (*pp == fl) {
                        *pp = fl->next;
                        return;
                }
}

static void wake_all(flight_t *fl)
{
        for (size_t i = 0; i < fl->n_waiters; i++)
                fl->waiters[i].fn(fl->waiters[i].arg);
}

/* Starts queued calls up to max_inflight; runs on the fetcher thread with the lock held. */
static void start_queued(kos_fetch_t *f)
{
        for (flight_t *fl = f->flights; fl && f->running < f->max_inflight; fl = fl->next) {
                if (fl->req)
                        continue;
                char err[256];
                fl->req = kos_kube_req_new(f->kube, fl->fact->method, fl->fact->path,
                                           fl->fact->accept, fl->fact->body, err, sizeof(err));
                if (!fl->req) {
                        KOS_WARN("fetch", "%s", err);
                        continue; /* retried on the next round */
                }
                curl_multi_add_handle(f->multi, kos_kube_req_handle(fl->req));
                f->running++;
        }
}

static void finish(kos_fetch_t *f, CURL *easy, CURLcode rc)
{
        kos_kube_req_t *req = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
        curl_multi_remove_handle(f->multi, easy);
        pthread_mutex_lock(&f->lock);
        flight_t *fl = f->flights;
        while (fl && fl->req != req)
                fl = fl->next;
        if (fl)
                unlink_flight(f, fl);
        f->running--;
        pthread_mutex_unlock(&f->lock);
        json_t *answer = NULL;
        char err[512] = "";
        int status = kos_kube_req_finish(f->kube, req, rc, &answer, err, sizeof(err));
        if (fl) {
                fl->fact->store(fl->fact->owner, fl->fact, status, answer, err);
                wake_all(fl);
                flight_free(fl);
        }
        json_decref(answer);
}

static void *fetch_main(void *arg)
{
        kos_fetch_t *f = arg;
        for (;;) {
                pthread_mutex_lock(&f->lock);
                int stop = f->stop;
                if (!stop)
                        start_queued(f);
                pthread_mutex_unlock(&f->lock);
                if (stop)
                        return NULL;
                int still = 0;
                curl_multi_perform(f->multi, &still);
                CURLMsg *m;
                int left;
                while ((m = curl_multi_info_read(f->multi, &left)))
                        if (m->msg == CURLMSG_DONE)
                                finish(f, m->easy_handle, m->data.result);
                curl_multi_poll(f->multi, NULL, 0, 1000, NULL);
        }
}

kos_fetch_t *kos_fetch_new(kos_kube_t *kube, int max_inflight, char *errstr, size_t errstr_size)
{
        kos_fetch_t *f = kos_xcalloc(1, sizeof(*f));
        if (!(f->multi = curl_multi_init())) {
                free(f);
                snprintf(errstr, errstr_size, "curl_multi_init failed");
                return NULL;
        }
        f->kube = kube;
        f->max_inflight = max_inflight > 0 ? max_inflight : 1;
        pthread_mutex_init(&f->lock, NULL);
        if (pthread_create(&f->thread, NULL, fetch_main, f)) {
                snprintf(errstr, errstr_size, "pthread_create failed");
                kos_fetch_destroy(f);
                return NULL;
        }
        f->started = 1;
        return f;
}

int kos_fetch_wait(kos_fetch_t *f, kos_fact_t *fact, kos_fetch_wake_fn wake, void *arg)
{
        pthread_mutex_lock(&f->lock);
        if (f->closed) {
                pthread_mutex_unlock(&f->lock);
                kos_fact_free(fact);
                return -1;
        }
        flight_t *fl = f->flights, *last = NULL;
        for (; fl && strcmp(fl->fact->key, fact->key) != 0; fl = fl->next)
                last = fl;
        int is_new = !fl;
        if (is_new)
                fl = kos_xcalloc(1, sizeof(*fl));
        if (fl->n_waiters == fl->cap_waiters) {
                size_t cap = fl->cap_waiters ? 2 * fl->cap_waiters : 4;
                fl->waiters = kos_xrealloc(fl->waiters, cap * sizeof(*fl->waiters));
                fl->cap_waiters = cap;
        }
        fl->waiters[fl->n_waiters++] = (waiter_t){wake, arg};
        if (is_new) {
                fl->fact = fact;
                fact = NULL;
                if (last)
                        last->next = fl;
                else
                        f->flights = fl;
        }
        pthread_mutex_unlock(&f->lock);
        kos_fact_free(fact); /* a duplicate of the one in flight */
        if (is_new)
                curl_multi_wakeup(f->multi);
        return 0;
}

void kos_fetch_close(kos_fetch_t *f)
{
        /* One flight's waiters at a time, taken from it under the lock and woken outside it;
         * the calls themselves go on and store. Nothing is allocated, so no waiter can be
         * left asleep; closed keeps new ones out meanwhile. */
        pthread_mutex_lock(&f->lock);
        f->closed = 1;
        for (;;) {
                flight_t *fl = f->flights;
                while (fl && fl->n_waiters == 0)
                        fl = fl->next;
                if (!fl)
                        break;
                waiter_t *w = fl->waiters;
                size_t n = fl->n_waiters;
                fl->waiters = NULL;
                fl->n_waiters = fl->cap_waiters = 0;
                pthread_mutex_unlock(&f->lock);
                for (size_t i = 0; i < n; i++)
                        w[i].fn(w[i].arg);
                free(w);
                pthread_mutex_lock(&f->lock);
        }
        pthread_mutex_unlock(&f->lock);
}

void kos_fetch_destroy(kos_fetch_t *f)
{
        if (!f)
                return;
        if (f->started) {
                kos_fetch_close(f);
                pthread_mutex_lock(&f->lock);
                f->stop = 1;
                pthread_mutex_unlock(&f->lock);
                curl_multi_wakeup(f->multi);
                pthread_join(f->thread, NULL);
        }
        while (f->flights) {
                flight_t *fl = f->flights;
                f->flights = fl->next;
                if (fl->req) {
                        json_t *out = NULL;
                        char err[64];
                        curl_multi_remove_handle(f->multi, kos_kube_req_handle(fl->req));
                        kos_kube_req_finish(f->kube, fl->req, CURLE_ABORTED_BY_CALLBACK, &out, err,
                                            sizeof(err));
                        json_decref(out);
                }
                flight_free(fl);
        }
        curl_multi_cleanup(f->multi);
        pthread_mutex_destroy(&f->lock);
        free(f);
}
