/* One-line logs on stderr: "2026-11-25T14:00:00.123Z level component: message".
 * Thread-safe (one write(2) per line). librdkafka's log_cb is routed here by kafka.c. */
#ifndef KOS_LOG_H
#define KOS_LOG_H

enum kos_log_level { KOS_LOG_DEBUG = 7, KOS_LOG_INFO = 6, KOS_LOG_WARN = 4, KOS_LOG_ERR = 3 };

/* Messages above this level are dropped. Default KOS_LOG_INFO. */
void kos_log_set_level(int level);
int kos_log_get_level(void);

void kos_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define KOS_DBG(comp, ...)  kos_log(KOS_LOG_DEBUG, comp, __VA_ARGS__)
#define KOS_INFO(comp, ...) kos_log(KOS_LOG_INFO, comp, __VA_ARGS__)
#define KOS_WARN(comp, ...) kos_log(KOS_LOG_WARN, comp, __VA_ARGS__)
#define KOS_ERR(comp, ...)  kos_log(KOS_LOG_ERR, comp, __VA_ARGS__)

#endif
