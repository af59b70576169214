/* libFuzzer target for the adapter's configuration parsers fed by files an operator writes:
 * the mapping file and kubeconfig (YAML). Any input must give a result or an error, never a
 * crash, leak or hang. The first byte picks the parser. */
#include "kubeconfig.h"
#include "mapping.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1 || size > 64 * 1024)
                return 0;
        char *text = malloc(size);
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        char err[512];
        if (data[0] & 1) {
                kos_mapping_t *m = kos_mapping_parse(text, "fuzz", err, sizeof(err));
                if (m) {
                        for (size_t i = 0; i < m->n_rules; i++)
                                (void)kos_mapping_rule_has_topic(&m->rules[i], "t");
                        (void)kos_mapping_find(m, "default", "pods", "x");
                }
                kos_mapping_destroy(m);
        } else {
                kos_kube_target_t t;
                /* base_dir points nowhere: file references fail cleanly */
                if (kos_kubeconfig_parse(text, "/nonexistent-fuzz", &t, err, sizeof(err)) == 0)
                        kos_kube_target_clear(&t);
        }
        free(text);
        return 0;
}
