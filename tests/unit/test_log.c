/* The rate limit of common/log.c: the default of KOS_LOG_LIMIT_BURST lines per window, a
 * limit's own burst and window (the processor's record warnings: one line a second per kind),
 * and the count of dropped lines that the first line of a later window brings. */
#include "check.h"
#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* stderr of the calls between capture_start and capture_end. */
static FILE *captured;
static int saved_fd = -1;

static void capture_start(void)
{
        captured = tmpfile();
        saved_fd = dup(STDERR_FILENO);
        dup2(fileno(captured), STDERR_FILENO);
}

static char *capture_end(void)
{
        dup2(saved_fd, STDERR_FILENO);
        close(saved_fd);
        long n = ftell(captured);
        char *text = calloc(1, (size_t)n + 1);
        rewind(captured);
        size_t got = fread(text, 1, (size_t)n, captured);
        text[got] = '\0';
        fclose(captured);
        return text;
}

static int count(const char *text, const char *needle)
{
        int n = 0;
        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* Waits until the monotonic second changes, so a 1 s window starts fresh. */
static void next_second(void)
{
        int64_t s = kos_mono_ms() / 1000;
        while (kos_mono_ms() / 1000 == s) {
                struct timespec ts = {0, 5 * 1000000};
                nanosleep(&ts, NULL);
        }
}

static void default_burst(void)
{
        static kos_log_limit_t lim;
        capture_start();
        for (int i = 0; i < KOS_LOG_LIMIT_BURST + 15; i++)
                kos_log_limited(&lim, KOS_LOG_WARN, "t", "default %d", i);
        char *text = capture_end();
        /* 35 calls within one 10 s window, unless it turned over meanwhile (then 20 more). */
        int lines = count(text, "warn t: default ");
        CHECK(lines == KOS_LOG_LIMIT_BURST || lines == KOS_LOG_LIMIT_BURST + 15);
        CHECK(strstr(text, "default 0\n") != NULL);
        free(text);
}

static void own_burst_and_window(void)
{
        static kos_log_limit_t lim = {.burst = 1, .window_s = 1};
        next_second();
        capture_start();
        for (int i = 0; i < 5; i++)
                kos_log_limited(&lim, KOS_LOG_WARN, "t", "one a second %d", i);
        next_second();
        kos_log_limited(&lim, KOS_LOG_WARN, "t", "one a second %d", 5);
        char *text = capture_end();
        CHECK_INT(count(text, "one a second"), 2);
        CHECK(strstr(text, "one a second 0\n") != NULL);
        CHECK(strstr(text, "warn t: 4 similar lines suppressed\n") != NULL);
        CHECK(strstr(text, "one a second 5\n") != NULL);
        /* The count comes before the line that ends the quiet. */
        CHECK(strstr(text, "suppressed") < strstr(text, "one a second 5"));
        free(text);
}

static void below_the_level(void)
{
        static kos_log_limit_t lim = {.burst = 1, .window_s = 1};
        capture_start();
        kos_log_limited(&lim, KOS_LOG_DEBUG, "t", "not shown");
        kos_log_limited(&lim, KOS_LOG_WARN, "t", "shown");
        char *text = capture_end();
        /* A dropped debug line does not use up the burst. */
        CHECK(strstr(text, "not shown") == NULL);
        CHECK(strstr(text, "shown\n") != NULL);
        free(text);
}

int main(void)
{
        default_burst();
        own_burst_and_window();
        below_the_level();
        return check_result("log");
}
