/* The out-of-memory policy (common/xalloc.h): an allocation that fails aborts the process with
 * one log line naming the size, whatever the call (malloc, calloc with an overflowing count,
 * realloc, a strbuf growing past SIZE_MAX), and jansson allocates through the same wrapper.
 * Each failing case runs in a child process; the parent checks the signal and the line. */
#include "check.h"
#include "strbuf.h"
#include "xalloc.h"

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MALLOC, CALLOC_OVERFLOW, REALLOC, STRBUF_OVERFLOW };

static void fail_in_child(int what)
{
        static char one_byte[1];
        kos_strbuf_t b = {.data = one_byte, .len = SIZE_MAX - 8, .cap = 1};
        switch (what) {
        case MALLOC:
                kos_xmalloc(SIZE_MAX - 4096);
                break;
        case CALLOC_OVERFLOW:
                kos_xcalloc(SIZE_MAX / 2, 4);
                break;
        case REALLOC:
                free(kos_xrealloc(kos_xmalloc(16), SIZE_MAX - 4096));
                break;
        case STRBUF_OVERFLOW:
                kos_strbuf_append(&b, "0123456789abcdef", 16);
                break;
        }
}

/* Runs the case in a child; @returns what it wrote to stderr, *sig the signal it died of. */
static char *run(int what, int *sig)
{
        int fd[2];
        if (pipe(fd) == -1)
                abort();
        pid_t pid = fork();
        if (pid == 0) {
                dup2(fd[1], STDERR_FILENO);
                close(fd[0]);
                fail_in_child(what);
                _exit(0); /* not reached when the policy holds */
        }
        close(fd[1]);
        static char out[4096];
        size_t n = 0;
        ssize_t r;
        while (n < sizeof(out) - 1 && (r = read(fd[0], out + n, sizeof(out) - 1 - n)) > 0)
                n += (size_t)r;
        out[n] = '\0';
        close(fd[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        *sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        return out;
}

static void aborts_with_a_line(void)
{
        int sig;
        char *out = run(MALLOC, &sig);
        CHECK_INT(sig, SIGABRT);
        CHECK(strstr(out, "error memory: out of memory allocating ") != NULL);
        CHECK(strstr(out, ": aborting\n") != NULL);

        out = run(CALLOC_OVERFLOW, &sig);
        CHECK_INT(sig, SIGABRT);
        CHECK(strstr(out, "out of memory (a size overflowed): aborting") != NULL);

        out = run(REALLOC, &sig);
        CHECK_INT(sig, SIGABRT);
        CHECK(strstr(out, "out of memory allocating ") != NULL);

        out = run(STRBUF_OVERFLOW, &sig);
        CHECK_INT(sig, SIGABRT);
        CHECK(strstr(out, "out of memory (a size overflowed): aborting") != NULL);
}

static void zero_sizes_and_copies(void)
{
        void *p = kos_xmalloc(0);
        CHECK(p != NULL);
        p = kos_xrealloc(p, 0);
        CHECK(p != NULL);
        free(p);
        int *z = kos_xcalloc(4, sizeof(int));
        CHECK(z[0] == 0 && z[3] == 0);
        free(z);
        char *s = kos_xstrdup("kos");
        CHECK_STR(s, "kos");
        free(s);
        char *m = kos_xmemdup("a\0b", 3);
        CHECK(memcmp(m, "a\0b", 3) == 0);
        free(m);
}

static void jansson_goes_through_it(void)
{
        json_malloc_t m = NULL;
        json_free_t f = NULL;
        kos_xalloc_install();
        json_get_alloc_funcs(&m, &f);
        CHECK(m == kos_xmalloc);
        CHECK(f == free);
        json_t *j = json_loads("{\"a\":[1,2,3]}", 0, NULL);
        CHECK(json_array_size(json_object_get(j, "a")) == 3);
        json_decref(j);
}

int main(void)
{
        aborts_with_a_line();
        zero_sizes_and_copies();
        jansson_goes_through_it();
        return check_result("xalloc");
}
