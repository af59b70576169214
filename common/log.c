/* One-line stderr logging shared by all kos programs. */
#include "log.h"

#include <stdarg.h>
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

void kos_log(int level, const char *component, const char *fmt, ...)
{
        if (level > log_level)
                return;
        char line[2048];
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        int n = snprintf(line, sizeof(line),
                         "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         ts.tv_nsec / 1000000, level_name(level), component);
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
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
