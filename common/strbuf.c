/* Growable text buffer (see strbuf.h). */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(kos_strbuf_t *b, size_t extra)
{
        if (b->failed)
                return -1;
        if (b->len + extra + 1 <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1) {
                if (cap > ((size_t)-1) / 2) {
                        b->failed = 1;
                        return -1;
                }
                cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d) {
                b->failed = 1;
                return -1;
        }
        b->data = d;
        b->cap = cap;
        return 0;
}

void kos_strbuf_append(kos_strbuf_t *b, const char *s, size_t n)
{
        if (reserve(b, n) == -1)
                return;
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
        if (n < 0 || reserve(b, (size_t)n) == -1)
                return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

int kos_strbuf_failed(const kos_strbuf_t *b)
{
        return b->failed;
}

char *kos_strbuf_steal(kos_strbuf_t *b, size_t *len)
{
        char *d = b->data;
        size_t n = b->len;
        if (b->failed) {
                free(d);
                d = NULL;
                n = 0;
        } else if (!d) {
                d = calloc(1, 1);
        }
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
