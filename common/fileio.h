/* Reading a whole (small) file with a size bound and an error that names the path: the
 * certificates, mapping file and kubeconfig the programs load at start. */
#ifndef KOS_FILEIO_H
#define KOS_FILEIO_H

#include <stddef.h>

/* @returns a new NUL-terminated buffer (free()) with *len bytes, or NULL with errstr
 * "<path>: <reason>" (missing, unreadable, larger than max_bytes). */
char *kos_read_file(const char *path, size_t max_bytes, size_t *len, char *errstr,
                    size_t errstr_size);

#endif
