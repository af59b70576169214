/* kubeconfig parsing with libyaml into a small tree, then the current context's cluster and
 * user (see kubeconfig.h). Only what a client needs is read: server, CA, client cert/key,
 * token, token file, insecure-skip-tls-verify. Exec and auth-provider plugins are refused
 * with a message rather than ignored. */
#include "kubeconfig.h"
#include "xalloc.h"
#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef enum { N_SCALAR, N_MAP, N_SEQ } ntype_t;

typedef struct node {
        ntype_t type;
        char *text;         /* scalar */
        struct node **kids; /* map: key,value,key,value...; seq: items */
        size_t n;
} node_t;

static void node_free(node_t *n)
{
        if (!n)
                return;
        free(n->text);
        for (size_t i = 0; i < n->n; i++)
                node_free(n->kids[i]);
        free(n->kids);
        free(n);
}

static void node_add(node_t *parent, node_t *kid)
{
        parent->kids = kos_xrealloc(parent->kids, (parent->n + 1) * sizeof(*parent->kids));
        parent->kids[parent->n++] = kid;
}

/* Builds the tree of the next node from the event stream; NULL on error. Depth-bounded so a
 * hostile file cannot exhaust the stack. */
static node_t *parse_node(yaml_parser_t *p, yaml_event_t *ev, int depth, char *errstr,
                          size_t errstr_size)
{
        if (depth > 32) {
                snprintf(errstr, errstr_size, "nesting deeper than 32 levels");
                return NULL;
        }
        node_t *n = kos_xcalloc(1, sizeof(*n));
        if (ev->type == YAML_SCALAR_EVENT) {
                n->type = N_SCALAR;
                n->text = kos_xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
                return n;
        }
        if (ev->type == YAML_ALIAS_EVENT) {
                snprintf(errstr, errstr_size, "YAML aliases are not supported in a kubeconfig");
                free(n);
                return NULL;
        }
        yaml_event_type_t end;
        if (ev->type == YAML_MAPPING_START_EVENT) {
                n->type = N_MAP;
                end = YAML_MAPPING_END_EVENT;
        } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
                n->type = N_SEQ;
                end = YAML_SEQUENCE_END_EVENT;
        } else {
                snprintf(errstr, errstr_size, "unexpected YAML event %d", ev->type);
                free(n);
                return NULL;
        }
        for (;;) {
                yaml_event_t e;
                if (!yaml_parser_parse(p, &e)) {
                        snprintf(errstr, errstr_size, "YAML error at line %zu: %s",
                                 p->problem_mark.line + 1, p->problem ? p->problem : "?");
                        node_free(n);
                        return NULL;
                }
                if (e.type == end) {
                        yaml_event_delete(&e);
                        return n;
                }
                node_t *kid = parse_node(p, &e, depth + 1, errstr, errstr_size);
                yaml_event_delete(&e);
                if (!kid) {
                        node_free(n);
                        return NULL;
                }
                node_add(n, kid);
        }
}

static node_t *map_get(const node_t *m, const char *key)
{
        if (!m || m->type != N_MAP)
                return NULL;
        for (size_t i = 0; i + 1 < m->n; i += 2)
                if (m->kids[i]->type == N_SCALAR && strcmp(m->kids[i]->text, key) == 0)
                        return m->kids[i + 1];
        return NULL;
}

static const char *map_str(const node_t *m, const char *key)
{
        node_t *v = map_get(m, key);
        return v && v->type == N_SCALAR ? v->text : NULL;
}

/* The `inner` map of the named entry of a list like clusters: [{name, cluster: {...}}]. */
static node_t *named(const node_t *root, const char *list, const char *inner, const char *name)
{
        node_t *l = map_get(root, list);
        for (size_t i = 0; l && l->type == N_SEQ && i < l->n; i++) {
                const char *nm = map_str(l->kids[i], "name");
                if (nm && strcmp(nm, name) == 0)
                        return map_get(l->kids[i], inner);
        }
        return NULL;
}

static char *read_all(const char *path, char *errstr, size_t errstr_size)
{
        return kos_read_file(path, 4u << 20, NULL, errstr, errstr_size);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decodes base64 (*-data fields); NULL on invalid input. */
static char *b64_decode(const char *s)
{
        size_t len = strlen(s);
        char *out = kos_xmalloc(len / 4 * 3 + 4);
        size_t o = 0;
        unsigned acc = 0;
        int bits = 0;
        for (const char *p = s; *p; p++) {
                if (*p == '=' || *p == '\n' || *p == '\r' || *p == ' ')
                        continue;
                const char *c = strchr(b64, *p);
                if (!c || !*p) {
                        free(out);
                        return NULL;
                }
                acc = (acc << 6) | (unsigned)(c - b64);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char)((acc >> bits) & 0xff);
                }
        }
        out[o] = '\0';
        return out;
}

static char *path_in(const char *base_dir, const char *p)
{
        if (p[0] == '/' || !base_dir)
                return kos_xstrdup(p);
        size_t n = strlen(base_dir) + strlen(p) + 2;
        char *s = kos_xmalloc(n);
        snprintf(s, n, "%s/%s", base_dir, p);
        return s;
}

/* field-data (base64) or field (a file path) → PEM/text; 0 absent, 1 set, -1 error. */
static int data_or_file(const node_t *m, const char *field, const char *base_dir, char **out,
                        char *errstr, size_t errstr_size)
{
        char key[64];
        snprintf(key, sizeof(key), "%s-data", field);
        const char *d = map_str(m, key);
        if (d) {
                if (!(*out = b64_decode(d))) {
                        snprintf(errstr, errstr_size, "%s: invalid base64", key);
                        return -1;
                }
                return 1;
        }
        const char *f = map_str(m, field);
        if (!f)
                return 0;
        char *path = path_in(base_dir, f);
        *out = read_all(path, errstr, errstr_size);
        free(path);
        return *out ? 1 : -1;
}

int kos_kubeconfig_parse(const char *text, const char *base_dir, kos_kube_target_t *t, char *errstr,
                         size_t errstr_size)
{
        memset(t, 0, sizeof(*t));
        yaml_parser_t p;
        yaml_parser_initialize(&p);
        yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
        node_t *root = NULL;
        int rc = -1;
        for (;;) {
                yaml_event_t e;
                if (!yaml_parser_parse(&p, &e)) {
                        snprintf(errstr, errstr_size, "YAML error at line %zu: %s",
                                 p.problem_mark.line + 1, p.problem ? p.problem : "?");
                        goto out;
                }
                yaml_event_type_t type = e.type;
                if (type == YAML_MAPPING_START_EVENT && !root) {
                        root = parse_node(&p, &e, 0, errstr, errstr_size);
                        yaml_event_delete(&e);
                        if (!root)
                                goto out;
                        continue;
                }
                yaml_event_delete(&e);
                if (type == YAML_STREAM_END_EVENT)
                        break;
        }
        if (!root) {
                snprintf(errstr, errstr_size, "not a kubeconfig (no top-level mapping)");
                goto out;
        }
        const char *ctx_name = map_str(root, "current-context");
        if (!ctx_name) {
                snprintf(errstr, errstr_size, "kubeconfig has no current-context");
                goto out;
        }
        node_t *ctx = named(root, "contexts", "context", ctx_name);
        const char *cluster_name = map_str(ctx, "cluster");
        const char *user_name = map_str(ctx, "user");
        node_t *cluster = cluster_name ? named(root, "clusters", "cluster", cluster_name) : NULL;
        if (!cluster) {
                snprintf(errstr, errstr_size, "context \"%s\": cluster not found", ctx_name);
                goto out;
        }
        const char *server = map_str(cluster, "server");
        if (!server || strncmp(server, "https://", 8) != 0) {
                snprintf(errstr, errstr_size, "cluster \"%s\": server must be an https:// URL",
                         cluster_name);
                goto out;
        }
        t->server = kos_xstrdup(server);
        size_t sl = strlen(t->server);
        while (sl > 8 && t->server[sl - 1] == '/')
                t->server[--sl] = '\0';
        const char *insecure = map_str(cluster, "insecure-skip-tls-verify");
        t->insecure = insecure && strcmp(insecure, "true") == 0;
        if (data_or_file(cluster, "certificate-authority", base_dir, &t->ca_pem, errstr,
                         errstr_size) < 0)
                goto out;
        node_t *user = user_name ? named(root, "users", "user", user_name) : NULL;
        if (user) {
                if (map_get(user, "exec") || map_get(user, "auth-provider")) {
                        snprintf(errstr, errstr_size,
                                 "user \"%s\": exec and auth-provider plugins are not supported; "
                                 "use a token, a token file or a client certificate",
                                 user_name);
                        goto out;
                }
                if (data_or_file(user, "client-certificate", base_dir, &t->cert_pem, errstr,
                                 errstr_size) < 0 ||
                    data_or_file(user, "client-key", base_dir, &t->key_pem, errstr, errstr_size) <
                        0)
                        goto out;
                if (!t->cert_pem != !t->key_pem) {
                        snprintf(errstr, errstr_size,
                                 "user \"%s\": client certificate and key must come together",
                                 user_name);
                        goto out;
                }
                const char *tok = map_str(user, "token");
                if (tok)
                        t->token = kos_xstrdup(tok);
                const char *tf = map_str(user, "tokenFile");
                if (tf)
                        t->token_file = path_in(base_dir, tf);
        }
        rc = 0;
out:
        node_free(root);
        yaml_parser_delete(&p);
        if (rc)
                kos_kube_target_clear(t);
        return rc;
}

int kos_kubeconfig_load(const char *path, kos_kube_target_t *t, char *errstr, size_t errstr_size)
{
        char err[512];
        char *text = read_all(path, err, sizeof(err));
        if (!text) {
                snprintf(errstr, errstr_size, "--kubeconfig %s", err);
                return -1;
        }
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        else
                snprintf(dir, sizeof(dir), ".");
        int rc = kos_kubeconfig_parse(text, dir, t, err, sizeof(err));
        free(text);
        if (rc)
                snprintf(errstr, errstr_size, "--kubeconfig %s: %s", path, err);
        return rc;
}

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int kos_kubeconfig_in_cluster(kos_kube_target_t *t, char *errstr, size_t errstr_size)
{
        memset(t, 0, sizeof(*t));
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !port) {
                snprintf(errstr, errstr_size,
                         "not in a cluster (KUBERNETES_SERVICE_HOST unset) and no --kubeconfig");
                return -1;
        }
        char url[512];
        snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                 port);
        t->server = kos_xstrdup(url);
        char err[256];
        if (!(t->ca_pem = read_all(SA_DIR "/ca.crt", err, sizeof(err)))) {
                snprintf(errstr, errstr_size, "in-cluster CA: %s", err);
                kos_kube_target_clear(t);
                return -1;
        }
        t->token_file = kos_xstrdup(SA_DIR "/token");
        return 0;
}

void kos_kube_target_clear(kos_kube_target_t *t)
{
        free(t->server);
        free(t->ca_pem);
        free(t->cert_pem);
        free(t->key_pem);
        free(t->token);
        free(t->token_file);
        memset(t, 0, sizeof(*t));
}
