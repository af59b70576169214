/* Allocation that aborts on failure (see xalloc.h for the policy and why). */
#include "xalloc.h"
#include "log.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void kos_oom(size_t size)
{
        /* kos_log formats into a stack buffer and writes once: it needs no memory. */
        if (size == SIZE_MAX)
                kos_log(KOS_LOG_ERR, "memory", "out of memory (a size overflowed): aborting");
        else
                kos_log(KOS_LOG_ERR, "memory", "out of memory allocating %zu bytes: aborting",
                        size);
        abort();
}

void *kos_xmalloc(size_t size)
{
        void *p = malloc(size ? size : 1);
        if (!p)
                kos_oom(size);
        return p;
}

void *kos_xcalloc(size_t n, size_t size)
{
        if (size && n > SIZE_MAX / size)
                kos_oom(SIZE_MAX);
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                kos_oom(n * size);
        return p;
}

void *kos_xrealloc(void *p, size_t size)
{
        void *q = realloc(p, size ? size : 1);
        if (!q)
                kos_oom(size);
        return q;
}

char *kos_xstrdup(const char *s)
{
        return kos_xmemdup(s, strlen(s) + 1);
}

char *kos_xstrndup(const char *s, size_t n)
{
        size_t len = strnlen(s, n);
        if (len == SIZE_MAX)
                kos_oom(SIZE_MAX);
        char *d = kos_xmalloc(len + 1);
        memcpy(d, s, len);
        d[len] = '\0';
        return d;
}

void *kos_xmemdup(const void *p, size_t size)
{
        void *q = kos_xmalloc(size);
        if (size)
                memcpy(q, p, size);
        return q;
}

void kos_xalloc_install(void)
{
        json_set_alloc_funcs(kos_xmalloc, free);
}
