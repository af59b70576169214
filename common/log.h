/* One-line logs on stderr: "2026-11-25T14:00:00.123Z level component: message".
 * Thread-safe (one write(2) per line) and allocation-free (a stack buffer), so it may report
 * an allocation failure. librdkafka's log_cb is routed here by kconf.c (and by the processor's
 * own in rebalance.c). */
#ifndef KOS_LOG_H
#define KOS_LOG_H

enum kos_log_level { KOS_LOG_DEBUG = 7, KOS_LOG_INFO = 6, KOS_LOG_WARN = 4, KOS_LOG_ERR = 3 };

/* Messages above this level are dropped. Default KOS_LOG_INFO. */
void kos_log_set_level(int level);
int kos_log_get_level(void);

void kos_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A rate limit for one kind of line (a static per call site; zeroed = ready): at most burst
 * lines per window_s seconds of the monotonic clock, then, with the first line of a later
 * window, a count of the lines dropped, so a client or a stream of poison records cannot flood
 * the log. burst and window_s are set once, in the initializer; 0 means the defaults below. */
#define KOS_LOG_LIMIT_BURST    20
#define KOS_LOG_LIMIT_WINDOW_S 10
typedef struct {
        unsigned burst;
        unsigned window_s;
        _Atomic long long window;
        _Atomic unsigned count;
        _Atomic unsigned dropped;
} kos_log_limit_t;
void kos_log_limited(kos_log_limit_t *lim, int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define KOS_DBG(comp, ...)  kos_log(KOS_LOG_DEBUG, comp, __VA_ARGS__)
#define KOS_INFO(comp, ...) kos_log(KOS_LOG_INFO, comp, __VA_ARGS__)
#define KOS_WARN(comp, ...) kos_log(KOS_LOG_WARN, comp, __VA_ARGS__)
#define KOS_ERR(comp, ...)  kos_log(KOS_LOG_ERR, comp, __VA_ARGS__)

#endif
