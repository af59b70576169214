/* Growable text buffer (see strbuf.h). */
#include "strbuf.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(kos_strbuf_t *b, size_t extra)
{
        if (extra > SIZE_MAX - 1 - b->len)
                kos_oom(SIZE_MAX);
        size_t need = b->len + extra + 1;
        if (need <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        b->data = kos_xrealloc(b->data, cap);
        b->cap = cap;
}

void kos_strbuf_append(kos_strbuf_t *b, const char *s, size_t n)
{
        reserve(b, n);
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void kos_strbuf_puts(kos_strbuf_t *b, const char *s)
{
        kos_strbuf_append(b, s, strlen(s));
}

void kos_strbuf_printf(kos_strbuf_t *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

char *kos_strbuf_steal(kos_strbuf_t *b, size_t *len)
{
        char *d = b->data ? b->data : kos_xcalloc(1, 1);
        size_t n = b->len;
        memset(b, 0, sizeof(*b));
        if (len)
                *len = n;
        return d;
}

void kos_strbuf_free(kos_strbuf_t *b)
{
        free(b->data);
        memset(b, 0, sizeof(*b));
}
