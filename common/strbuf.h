/* A growable, always NUL-terminated byte buffer for rendering text (Prometheus metrics, HTTP
 * replies). It grows through kos_xrealloc, so running out of memory ends the process
 * (xalloc.h): a renderer appends freely and never checks. */
#ifndef KOS_STRBUF_H
#define KOS_STRBUF_H

#include <stddef.h>

typedef struct {
        char *data; /* owned; NUL-terminated once anything was appended */
        size_t len;
        size_t cap;
} kos_strbuf_t;

/* A zeroed kos_strbuf_t is an empty buffer; no init call is needed. */
void kos_strbuf_append(kos_strbuf_t *b, const char *s, size_t n);
void kos_strbuf_puts(kos_strbuf_t *b, const char *s);
void kos_strbuf_printf(kos_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* @returns the contents (the caller frees with free()) and resets b; "" for an empty buffer. */
char *kos_strbuf_steal(kos_strbuf_t *b, size_t *len);
void kos_strbuf_free(kos_strbuf_t *b);

#endif
