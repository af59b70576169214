/* Signals and PUT /rate for kos-datagen (see control.h). */
#include "control.h"
#include "fileio.h"
#include "log.h"
#include "rate.h"
#include "xalloc.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_MAX 4096

struct kos_control_s {
        double step;
        atomic_int stops;
        atomic_int quitting; /* destroy asked the signal thread to end */
        pthread_t thread;
        int started;

        pthread_mutex_t lock; /* guards the two rates below */
        double current;       /* published by the loop */
        double posted;
        int has_posted;

        const char *token_file; /* NULL: control from loopback peers only */
        char *token;            /* the last good read of token_file; guarded by lock */
};

kos_control_t *kos_control_new(double step)
{
        kos_control_t *c = kos_xcalloc(1, sizeof(*c));
        c->step = step;
        pthread_mutex_init(&c->lock, NULL);
        return c;
}

static void signal_set(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGUSR1);
        sigaddset(set, SIGUSR2);
}

/* Posts a manual rate (what PUT /rate and the signals do). */
static void post_rate(kos_control_t *c, double rate, const char *why)
{
        char buf[32];
        kos_rate_format(rate, buf, sizeof(buf));
        pthread_mutex_lock(&c->lock);
        c->posted = rate;
        c->has_posted = 1;
        c->current = rate;
        pthread_mutex_unlock(&c->lock);
        KOS_INFO("control", "%s: rate %s frames/s", why, buf);
}

static void step(kos_control_t *c, int up)
{
        pthread_mutex_lock(&c->lock);
        double cur = c->current;
        pthread_mutex_unlock(&c->lock);
        if (isinf(cur)) {
                KOS_WARN("control", "%s ignored: the rate is max (set a number with PUT /rate)",
                         up ? "SIGUSR1" : "SIGUSR2");
                return;
        }
        double next = up ? cur + c->step : cur - c->step;
        if (next < 0)
                next = 0;
        if (next > KOS_RATE_LIMIT)
                next = KOS_RATE_LIMIT;
        post_rate(c, next, up ? "SIGUSR1" : "SIGUSR2");
}

static void *signal_thread(void *arg)
{
        kos_control_t *c = arg;
        sigset_t set;
        signal_set(&set);
        for (;;) {
                int sig = 0;
                if (sigwait(&set, &sig) != 0)
                        continue;
                if (atomic_load(&c->quitting))
                        break;
                switch (sig) {
                case SIGUSR1:
                        step(c, 1);
                        break;
                case SIGUSR2:
                        step(c, 0);
                        break;
                default: {
                        int n = atomic_fetch_add(&c->stops, 1) + 1;
                        KOS_INFO("control", "%s: %s", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                                 n == 1 ? "stopping, flushing what is in flight"
                                        : "stopping now, dropping what is in flight");
                }
                }
        }
        return NULL;
}

int kos_control_start(kos_control_t *c, char *errstr, size_t errstr_size)
{
        sigset_t set;
        signal_set(&set);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);
        int err = pthread_create(&c->thread, NULL, signal_thread, c);
        if (err) {
                snprintf(errstr, errstr_size, "cannot start the signal thread: %s", strerror(err));
                return -1;
        }
        c->started = 1;
        return 0;
}

void kos_control_destroy(kos_control_t *c)
{
        if (!c)
                return;
        if (c->started) {
                atomic_store(&c->quitting, 1);
                pthread_kill(c->thread, SIGUSR1);
                pthread_join(c->thread, NULL);
        }
        pthread_mutex_destroy(&c->lock);
        free(c->token);
        free(c);
}

int kos_control_stop_requested(kos_control_t *c)
{
        return atomic_load_explicit(&c->stops, memory_order_relaxed);
}

int kos_control_take_rate(kos_control_t *c, double *rate)
{
        pthread_mutex_lock(&c->lock);
        int has = c->has_posted;
        if (has)
                *rate = c->posted;
        c->has_posted = 0;
        pthread_mutex_unlock(&c->lock);
        return has;
}

void kos_control_publish_rate(kos_control_t *c, double rate)
{
        pthread_mutex_lock(&c->lock);
        if (!c->has_posted)
                c->current = rate;
        pthread_mutex_unlock(&c->lock);
}

static void reply_rate(kos_http_reply_t *r, double rate)
{
        r->content_type = "application/json";
        if (isinf(rate))
                kos_strbuf_puts(&r->body, "{\"rate\":\"max\"}\n");
        else
                kos_strbuf_printf(&r->body, "{\"rate\":%.6g}\n", rate);
}

/* A token file holds one bearer token (RFC 6750 token68 characters); surrounding whitespace
 * and the trailing newline editors and `kubectl create secret --from-file` leave are dropped. */
static char *read_token(const char *path, char *errstr, size_t errstr_size)
{
        size_t len;
        char *buf = kos_read_file(path, TOKEN_MAX, &len, errstr, errstr_size);
        if (!buf)
                return NULL;
        int has_nul = memchr(buf, '\0', len) != NULL;
        char *s = buf;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
                n--;
        s[n] = '\0';
        const char *bad = NULL;
        if (n == 0)
                bad = "is empty";
        else if (has_nul)
                bad = "contains a NUL byte";
        for (size_t i = 0; i < n && !bad; i++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=",
                            s[i]))
                        bad = "is not a bearer token (letters, digits and -._~+/= only)";
        if (bad) {
                snprintf(errstr, errstr_size, "--control-token-file %s %s", path, bad);
                free(buf);
                return NULL;
        }
        char *tok = kos_xstrdup(s);
        free(buf);
        return tok;
}

int kos_control_set_token_file(kos_control_t *c, const char *path, char *errstr, size_t errstr_size)
{
        char err[512];
        char *tok = read_token(path, err, sizeof(err));
        if (!tok) {
                snprintf(errstr, errstr_size, "%s%s",
                         strncmp(err, "--control-token-file", 20) ? "--control-token-file " : "",
                         err);
                return -1;
        }
        pthread_mutex_lock(&c->lock);
        free(c->token);
        c->token = tok;
        c->token_file = path;
        pthread_mutex_unlock(&c->lock);
        return 0;
}

/* Every byte of the expected token is compared, whatever matched before. */
static int token_equal(const char *want, const char *got)
{
        size_t n = strlen(want), glen = strlen(got);
        volatile unsigned char diff = glen != n;
        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char)want[i] ^ (unsigned char)(i < glen ? got[i] : 0);
        return diff == 0;
}

int kos_control_authorize(const char *token, const char *authorization, int from_loopback)
{
        if (!token)
                return from_loopback ? 0 : 403;
        if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
                return 401;
        const char *got = authorization + 7;
        while (*got == ' ')
                got++;
        if (!*got)
                return 401;
        return token_equal(token, got) ? 0 : 403;
}

/* Re-reads the token file (rotation) and decides; fills r on refusal. 1 = allowed. */
static int control_allowed(kos_control_t *c, const kos_http_request_t *req, kos_http_reply_t *r)
{
        char err[512];
        char *fresh = c->token_file ? read_token(c->token_file, err, sizeof(err)) : NULL;
        if (c->token_file && !fresh)
                KOS_WARN("control", "%s; keeping the previous token", err);
        pthread_mutex_lock(&c->lock);
        if (fresh) {
                free(c->token);
                c->token = fresh;
        }
        int verdict = kos_control_authorize(c->token, req->authorization, req->from_loopback);
        pthread_mutex_unlock(&c->lock);
        if (verdict == 0)
                return 1;
        r->status = verdict;
        if (verdict == 401) {
                r->www_authenticate = "Bearer";
                kos_strbuf_puts(&r->body,
                                "PUT /rate needs Authorization: Bearer <control token>\n");
        } else if (c->token_file) {
                kos_strbuf_puts(&r->body, "wrong control token\n");
        } else {
                kos_strbuf_puts(&r->body, "PUT /rate is accepted from loopback only (or set "
                                          "--control-token-file)\n");
        }
        KOS_WARN("control", "PUT /rate refused (%d): %s", verdict,
                 verdict == 401  ? "no bearer token"
                 : c->token_file ? "wrong token"
                                 : "not from loopback and no control token configured");
        return 0;
}

/* PUT /rate takes the same words as --rate ("5000", "2.5k", "max", "pause", 0 = max) as plain
 * text, or a JSON object {"rate": 5000} / {"rate": "max"}. */
static void on_rate(void *arg, const kos_http_request_t *req, kos_http_reply_t *r)
{
        kos_control_t *c = arg;
        const char *body = req->body;
        size_t body_len = req->body_len;
        if (strcmp(req->method, "PUT") != 0) {
                pthread_mutex_lock(&c->lock);
                double cur = c->current;
                pthread_mutex_unlock(&c->lock);
                reply_rate(r, cur);
                return;
        }
        if (!control_allowed(c, req, r))
                return;
        char text[64], err[256];
        const char *word = NULL;
        json_t *doc = NULL;
        while (body_len && (*body == ' ' || *body == '\t' || *body == '\n' || *body == '\r'))
                body++, body_len--;
        while (body_len && (body[body_len - 1] == ' ' || body[body_len - 1] == '\n' ||
                            body[body_len - 1] == '\r' || body[body_len - 1] == '\t'))
                body_len--;
        if (body_len && body[0] == '{') {
                doc = json_loadb(body, body_len, 0, NULL);
                json_t *v = doc ? json_object_get(doc, "rate") : NULL;
                if (json_is_number(v)) {
                        snprintf(text, sizeof(text), "%.17g", json_number_value(v));
                        word = text;
                } else if (json_is_string(v)) {
                        word = json_string_value(v);
                }
        } else if (body_len && body_len < sizeof(text)) {
                memcpy(text, body, body_len);
                text[body_len] = '\0';
                word = text;
        }
        double rate;
        if (!word) {
                r->status = 400;
                kos_strbuf_puts(&r->body, "body must be a rate (e.g. 5000, 2.5k, max, pause) or "
                                          "{\"rate\": N}\n");
        } else if (kos_rate_parse("rate", word, 1, &rate, err, sizeof(err)) == -1) {
                r->status = 400;
                kos_strbuf_printf(&r->body, "%s\n", err);
        } else {
                post_rate(c, rate, "PUT /rate");
                reply_rate(r, rate);
        }
        json_decref(doc);
}

void kos_control_register_http(kos_control_t *c, kos_httpd_t *h)
{
        kos_httpd_handle(h, "GET,PUT", "/rate", on_rate, c);
}
