/* Run-time control of kos-datagen: the signal thread (SIGTERM/SIGINT stop, SIGUSR1/SIGUSR2 step
 * the rate up/down) and the HTTP rate endpoint (PUT /rate, GET /rate). Both only post requests;
 * the produce loop picks them up with kos_control_take_rate / kos_control_stop_requested.
 * PUT /rate changes the load a whole cluster sees, so it is guarded: with a control token
 * (--control-token-file) it needs `Authorization: Bearer <token>`; without one it is answered
 * to loopback peers only (kubectl port-forward, a sidecar). GET /rate, /metrics and the health
 * paths stay open. */
#ifndef KOS_DG_CONTROL_H
#define KOS_DG_CONTROL_H

#include "httpd.h"

#include <stddef.h>

typedef struct kos_control_s kos_control_t;

/* step: frames/s added by SIGUSR1 and removed by SIGUSR2. @returns a new controller; free
 * with kos_control_destroy. */
kos_control_t *kos_control_new(double step);
/* Blocks SIGTERM, SIGINT, SIGUSR1, SIGUSR2 and SIGPIPE in the calling thread (call it before
 * any other thread starts so all inherit the mask) and starts the thread that sigwaits. */
int kos_control_start(kos_control_t *c, char *errstr, size_t errstr_size);
/* Routes PUT /rate (body: a rate as for --rate, or {"rate": N}) and GET /rate on h. */
void kos_control_register_http(kos_control_t *c, kos_httpd_t *h);
/* Requires the token in path for PUT /rate from now on. The file is read now (-1 + errstr
 * naming it when unreadable, empty or not a token) and again on every PUT, so a rotated
 * Kubernetes Secret takes effect without a restart (an unreadable file then keeps the last
 * token). path is borrowed and must outlive c. */
int kos_control_set_token_file(kos_control_t *c, const char *path, char *errstr,
                               size_t errstr_size);

/* The decision for a control request, without sockets: 0 = allowed, 401 = no bearer token
 * given (token configured), 403 = a wrong token, or no token configured and the peer is not
 * loopback. token: the configured one or NULL; authorization: the header or NULL. The token
 * comparison takes the same time wherever the first difference is. */
int kos_control_authorize(const char *token, const char *authorization, int from_loopback);
/* Stops the signal thread and frees c. NULL is a no-op. */
void kos_control_destroy(kos_control_t *c);

/* Loop side. Number of stop requests (SIGTERM, SIGINT) so far. */
int kos_control_stop_requested(kos_control_t *c);
/* 1 with *rate when a manual rate was posted since the last call. */
int kos_control_take_rate(kos_control_t *c, double *rate);
/* The loop publishes its current target so steps and GET /rate start from it. */
void kos_control_publish_rate(kos_control_t *c, double rate);

#endif
