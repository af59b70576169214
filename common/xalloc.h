/* kos' out-of-memory policy: an allocation that fails ends the process, here, with one log
 * line naming the size. Every allocation in kos goes through these wrappers, and nothing tests
 * their result for NULL.
 *
 * Why not check every allocation instead: on Linux, with overcommit and a cgroup memory limit,
 * malloc almost never returns NULL - the kernel's OOM killer ends the process first. The NULL
 * paths are then code that never runs and that no test reaches, and the one that was
 * forgotten is a NULL dereference, or worse a record silently dropped and its offset
 * committed. A process that aborts is visible (the pod restarts, CrashLoopBackOff, the log
 * line) and loses nothing that a restart does not bring back: kos-processor resumes from its
 * committed offsets, the adapter rebuilds its snapshot from Kafka. Silent corruption is not
 * visible. This is redis' policy (src/zmalloc.c: zmalloc_oom_handler
 * logs the size and aborts); librdkafka's own rd_malloc/rd_strdup (src/rd.h) assert on NULL
 * the same way.
 *
 * Free with free(). A size computation that overflows counts as an allocation that failed.
 * jansson allocates through kos_xmalloc once kos_xalloc_install has run (each program's main).
 * Thread-safe. */
#ifndef KOS_XALLOC_H
#define KOS_XALLOC_H

#include <stddef.h>

/* Never NULL; a size of 0 allocates one byte. */
void *kos_xmalloc(size_t size);
/* Zeroed; n * size overflowing is out of memory. */
void *kos_xcalloc(size_t n, size_t size);
/* As realloc, never NULL; a size of 0 keeps one byte. */
void *kos_xrealloc(void *p, size_t size);
char *kos_xstrdup(const char *s);
/* At most n bytes of s, NUL-terminated. */
char *kos_xstrndup(const char *s, size_t n);
/* A copy of size bytes of p. */
void *kos_xmemdup(const void *p, size_t size);

/* Logs "out of memory allocating <size> bytes" and aborts. For size arithmetic that would
 * overflow (size: what was wanted, SIZE_MAX when unknown). */
_Noreturn void kos_oom(size_t size);

/* Routes jansson's allocations through kos_xmalloc (json_set_alloc_funcs). Call once at the
 * start of main, before any other thread runs. */
void kos_xalloc_install(void);

#endif
