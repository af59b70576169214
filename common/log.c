/* One-line stderr logging shared by all kos programs. */
#include "log.h"
#include "clock.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = KOS_LOG_INFO;

void kos_log_set_level(int level)
{
        log_level = level;
}

int kos_log_get_level(void)
{
        return log_level;
}

static const char *level_name(int level)
{
        switch (level) {
        case KOS_LOG_DEBUG:
                return "debug";
        case KOS_LOG_INFO:
                return "info";
        case KOS_LOG_WARN:
                return "warn";
        default:
                return "error";
        }
}

/* format(printf, 3, 0): the caller's arguments were checked where kos_log was called. */
__attribute__((format(printf, 3, 0))) static void vlog(int level, const char *component,
                                                       const char *fmt, va_list ap)
{
        char line[2048];
        int64_t now = kos_wall_ms();
        time_t secs = (time_t)(now / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        int n = snprintf(line, sizeof(line),
                         "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (long)(now % 1000), level_name(level), component);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
        if (len > sizeof(line) - 2)
                len = sizeof(line) - 2;
        /* Newlines inside a message would break "one line per event". */
        for (size_t i = (size_t)n; i < len; i++)
                if (line[i] == '\n' || line[i] == '\r')
                        line[i] = ' ';
        line[len++] = '\n';
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
}

void kos_log(int level, const char *component, const char *fmt, ...)
{
        if (level > log_level)
                return;
        va_list ap;
        va_start(ap, fmt);
        vlog(level, component, fmt, ap);
        va_end(ap);
}

void kos_log_limited(kos_log_limit_t *lim, int level, const char *component, const char *fmt, ...)
{
        if (level > log_level)
                return;
        unsigned burst = lim->burst ? lim->burst : KOS_LOG_LIMIT_BURST;
        unsigned window_s = lim->window_s ? lim->window_s : KOS_LOG_LIMIT_WINDOW_S;
        long long window = (long long)(kos_mono_ms() / 1000 / window_s);
        long long seen = atomic_load(&lim->window);
        if (seen != window && atomic_compare_exchange_strong(&lim->window, &seen, window)) {
                unsigned dropped = atomic_exchange(&lim->dropped, 0);
                atomic_store(&lim->count, 0);
                if (dropped)
                        kos_log(level, component, "%u similar lines suppressed", dropped);
        }
        if (atomic_fetch_add(&lim->count, 1) >= burst) {
                atomic_fetch_add(&lim->dropped, 1);
                return;
        }
        va_list ap;
        va_start(ap, fmt);
        vlog(level, component, fmt, ap);
        va_end(ap);
}
