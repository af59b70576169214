/* Whole-file reads with a bound (see fileio.h). */
#include "fileio.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *kos_read_file(const char *path, size_t max_bytes, size_t *len, char *errstr,
                    size_t errstr_size)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return NULL;
        }
        char *buf = NULL;
        size_t n = 0, cap = 0, r;
        char chunk[8192];
        while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                if (n + r > max_bytes) {
                        snprintf(errstr, errstr_size, "%s: larger than %zu bytes", path, max_bytes);
                        fclose(f);
                        free(buf);
                        return NULL;
                }
                if (n + r + 1 > cap) {
                        cap = (n + r + 1) * 2;
                        buf = kos_xrealloc(buf, cap);
                }
                memcpy(buf + n, chunk, r);
                n += r;
        }
        int failed = ferror(f);
        fclose(f);
        if (failed) {
                snprintf(errstr, errstr_size, "%s: read error", path);
                free(buf);
                return NULL;
        }
        if (!buf)
                buf = kos_xmalloc(1);
        buf[n] = '\0';
        if (len)
                *len = n;
        return buf;
}
