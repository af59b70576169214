/* Fact descriptions (see fact.h). */
#include "fact.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

kos_fact_t *kos_fact_new(const char *kind, const char *key_text, const char *method,
                         const char *path, json_t *body, kos_fact_store_fn store, void *owner)
{
        kos_fact_t *f = kos_xcalloc(1, sizeof(*f));
        size_t n = strlen(kind) + strlen(key_text) + 2;
        if (f)
                f->key = kos_xmalloc(n);
        if (f)
                f->path = kos_xstrdup(path);
        if (!f || !f->key || !f->path) {
                if (f) {
                        free(f->key);
                        free(f->path);
                }
                free(f);
                json_decref(body);
                return NULL;
        }
        strcpy(f->key, kind);
        strcat(f->key, "\n");
        strcat(f->key, key_text);
        f->method = method;
        f->body = body;
        f->store = store;
        f->owner = owner;
        return f;
}

void kos_fact_free(kos_fact_t *f)
{
        if (!f)
                return;
        free(f->key);
        free(f->path);
        free(f->note);
        json_decref(f->body);
        free(f);
}
