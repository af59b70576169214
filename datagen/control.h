/* Run-time control of kos-datagen: the signal thread (SIGTERM/SIGINT stop, SIGUSR1/SIGUSR2 step
 * the rate up/down) and the HTTP rate endpoint (PUT /rate, GET /rate). Both only post requests;
 * the produce loop picks them up with kos_control_take_rate / kos_control_stop_requested. */
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
/* Stops the signal thread and frees c. NULL is a no-op. */
void kos_control_destroy(kos_control_t *c);

/* Loop side. Number of stop requests (SIGTERM, SIGINT) so far. */
int kos_control_stop_requested(kos_control_t *c);
/* 1 with *rate when a manual rate was posted since the last call. */
int kos_control_take_rate(kos_control_t *c, double *rate);
/* The loop publishes its current target so steps and GET /rate start from it. */
void kos_control_publish_rate(kos_control_t *c, double rate);

#endif
