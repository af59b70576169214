/* Fact descriptions (see fact.h). */
#include "fact.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

kos_fact_t *kos_fact_new(const char *kind, const char *key_text, const char *method,
                         const char *path, json_t *body, kos_fact_store_fn store, void *owner)
{
        kos_fact_t *f = kos_xcalloc(1, sizeof(*f));
        f->key = kos_xmalloc(strlen(kind) + strlen(key_text) + 2);
        f->path = kos_xstrdup(path);
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
