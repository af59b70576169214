/* Where the adapter finds kube-apiserver and how it authenticates there: a kubeconfig file
 * (--kubeconfig; YAML or JSON, the current context's cluster and user) or, inside a pod, the
 * service-account token and CA. Pure parsing plus file reads; no network.
 * Thread notes: called on the main thread at start; no shared state. */
#ifndef KOS_KUBECONFIG_H
#define KOS_KUBECONFIG_H

#include <stddef.h>

typedef struct {
        char *server;   /* https://host:port, no trailing slash */
        char *ca_pem;   /* NULL: system roots */
        int insecure;   /* insecure-skip-tls-verify */
        char *cert_pem; /* client certificate, NULL if none */
        char *key_pem;
        char *token;      /* bearer token, NULL if none */
        char *token_file; /* re-read on every use (projected tokens rotate), NULL if none */
} kos_kube_target_t;

/* Parses a kubeconfig document (YAML; JSON is YAML too). Relative file paths in it are
 * resolved against base_dir. 0 or -1 with errstr. */
int kos_kubeconfig_parse(const char *text, const char *base_dir, kos_kube_target_t *t, char *errstr,
                         size_t errstr_size);
int kos_kubeconfig_load(const char *path, kos_kube_target_t *t, char *errstr, size_t errstr_size);
/* In-cluster config from KUBERNETES_SERVICE_HOST/PORT and the service-account files. */
int kos_kubeconfig_in_cluster(kos_kube_target_t *t, char *errstr, size_t errstr_size);
void kos_kube_target_clear(kos_kube_target_t *t);

#endif
