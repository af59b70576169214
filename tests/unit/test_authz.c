/* Unit tests for the pure parts of adapter/authz.c (issue 9 items 5, 7, 10): how the
 * extension-apiserver-authentication ConfigMap is merged under the flags
 * (options/authentication.go DelegatingAuthenticationOptions.ApplyTo), how its lists are read
 * (headerrequest/requestheader_controller.go deserializeStrings: JSON lists, as stored), and a
 * TokenReview's user with no fixed limit. */
#include "authz.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static json_t *cm_data(const char *names_json)
{
        json_t *d = json_object();
        json_object_set_new(d, "client-ca-file", json_string("CM-CLIENT-CA"));
        json_object_set_new(d, "requestheader-client-ca-file", json_string("CM-RH-CA"));
        json_object_set_new(d, "requestheader-allowed-names", json_string(names_json));
        json_object_set_new(d, "requestheader-username-headers",
                            json_string("[\"X-Remote-User\"]"));
        json_object_set_new(d, "requestheader-group-headers", json_string("[\"X-Remote-Group\"]"));
        json_object_set_new(d, "requestheader-extra-headers-prefix",
                            json_string("[\"X-Remote-Extra-\"]"));
        return d;
}

static void test_precedence(void)
{
        char err[256], *kept_c = NULL, *kept_r = NULL;
        kos_auth_conf_t flags, c;
        kos_auth_conf_defaults(&flags);
        kos_strlist_add(&flags.requestheader_allowed_names, "flag-proxy", 10);
        json_t *d = cm_data("[\"front-proxy-client\"]");

        /* no CA flag: every setting from the ConfigMap, the allowed-names flag ignored */
        CHECK_INT(kos_authz_merge_configmap(d, &flags, &kept_c, &kept_r, &c, err, sizeof(err)), 0);
        CHECK_STR(c.client_ca_pem, "CM-CLIENT-CA");
        CHECK_STR(c.requestheader_client_ca_pem, "CM-RH-CA");
        CHECK_INT(c.requestheader_allowed_names.n, 1);
        CHECK_STR(c.requestheader_allowed_names.v[0], "front-proxy-client");
        CHECK_STR(c.requestheader_username_headers.v[0], "X-Remote-User");
        kos_auth_conf_clear(&c);

        /* --client-ca-file: only the client CA comes from the flag */
        flags.client_ca_file = "/flag/client-ca.crt";
        CHECK_INT(kos_authz_merge_configmap(d, &flags, &kept_c, &kept_r, &c, err, sizeof(err)), 0);
        CHECK_STR(c.client_ca_file, "/flag/client-ca.crt");
        CHECK(c.client_ca_pem == NULL);
        CHECK_STR(c.requestheader_client_ca_pem, "CM-RH-CA");
        CHECK_STR(c.requestheader_allowed_names.v[0], "front-proxy-client");
        kos_auth_conf_clear(&c);

        /* --requestheader-client-ca-file: all request-header settings from the flags */
        flags.client_ca_file = NULL;
        flags.requestheader_client_ca_file = "/flag/rh-ca.crt";
        CHECK_INT(kos_authz_merge_configmap(d, &flags, &kept_c, &kept_r, &c, err, sizeof(err)), 0);
        CHECK_STR(c.client_ca_pem, "CM-CLIENT-CA");
        CHECK(c.requestheader_client_ca_pem == NULL);
        CHECK_STR(c.requestheader_client_ca_file, "/flag/rh-ca.crt");
        CHECK_INT(c.requestheader_allowed_names.n, 1);
        CHECK_STR(c.requestheader_allowed_names.v[0], "flag-proxy");
        CHECK_STR(c.requestheader_username_headers.v[0], "x-remote-user");
        kos_auth_conf_clear(&c);
        flags.requestheader_client_ca_file = NULL;

        /* an empty CA key keeps the bundle loaded before (ConfigMapCAController) */
        json_object_set_new(d, "client-ca-file", json_string(""));
        CHECK_INT(kos_authz_merge_configmap(d, &flags, &kept_c, &kept_r, &c, err, sizeof(err)), 0);
        CHECK_STR(c.client_ca_pem, "CM-CLIENT-CA");
        kos_auth_conf_clear(&c);
        json_decref(d);

        /* no ConfigMap: nothing from it, no defaults for the header lists */
        char *none_c = NULL, *none_r = NULL;
        CHECK_INT(kos_authz_merge_configmap(NULL, &flags, &none_c, &none_r, &c, err, sizeof(err)),
                  0);
        CHECK(c.client_ca_pem == NULL && c.requestheader_client_ca_pem == NULL);
        CHECK_INT(c.requestheader_username_headers.n, 0);
        kos_auth_conf_clear(&c);

        free(kept_c);
        free(kept_r);
        kos_auth_conf_clear(&flags);
}

/* Issue 9.10: the allowed names are a JSON list; no 1024-byte cut, no comma split. */
static void test_configmap_lists(void)
{
        char err[256], *kept_c = NULL, *kept_r = NULL;
        kos_auth_conf_t flags, c;
        kos_auth_conf_defaults(&flags);
        char long_name[3000];
        memset(long_name, 'n', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        json_t *arr = json_pack("[s,s,s,s]", "a,b", " spaced ", long_name, "");
        char *names = json_dumps(arr, 0);
        json_decref(arr);
        json_t *d = cm_data(names);
        free(names);
        CHECK_INT(kos_authz_merge_configmap(d, &flags, &kept_c, &kept_r, &c, err, sizeof(err)), 0);
        CHECK_INT(c.requestheader_allowed_names.n, 4);
        if (c.requestheader_allowed_names.n == 4) {
                CHECK_STR(c.requestheader_allowed_names.v[0], "a,b");
                CHECK_STR(c.requestheader_allowed_names.v[1], " spaced ");
                CHECK_STR(c.requestheader_allowed_names.v[2], long_name);
                CHECK_STR(c.requestheader_allowed_names.v[3], "");
        }
        kos_auth_conf_clear(&c);

        /* not a JSON list of strings: an error naming the key (the previous settings stay) */
        static const char *const bad[] = {"a,b", "[\"a\",1]", "{\"a\":1}", "[\"a\""};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_object_set_new(d, "requestheader-allowed-names", json_string(bad[i]));
                err[0] = '\0';
                CHECK_INT(
                    kos_authz_merge_configmap(d, &flags, &kept_c, &kept_r, &c, err, sizeof(err)),
                    -1);
                CHECK(strstr(err, "requestheader-allowed-names") != NULL);
        }
        /* "" and null are no list: any CN */
        json_object_set_new(d, "requestheader-allowed-names", json_string("null"));
        CHECK_INT(kos_authz_merge_configmap(d, &flags, &kept_c, &kept_r, &c, err, sizeof(err)), 0);
        CHECK_INT(c.requestheader_allowed_names.n, 0);
        kos_auth_conf_clear(&c);
        json_decref(d);
        free(kept_c);
        free(kept_r);
        kos_auth_conf_clear(&flags);
}

/* Issue 9.7: every group of a TokenReview, the whole name, uid and extras. */
static void test_token_review_user(void)
{
        json_t *groups = json_array();
        for (int i = 0; i < 40; i++) {
                char g[32];
                snprintf(g, sizeof(g), "group-%d", i);
                json_array_append_new(groups, json_string(g));
        }
        char name[400];
        memset(name, 'x', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        json_t *status = json_pack("{s:b,s:{s:s,s:s,s:o,s:{s:[s,s]}}}", "authenticated", 1, "user",
                                   "username", name, "uid", "uid-1", "groups", groups, "extra",
                                   "authentication.kubernetes.io/pod-name", "p1", "p2");
        kos_identity_t id;
        char why[256];
        CHECK_INT(kos_authz_parse_token_review(status, &id, why, sizeof(why)), 0);
        CHECK_STR(id.user, name);
        CHECK_STR(id.uid, "uid-1");
        CHECK_INT(id.n_groups, 40);
        if (id.n_groups == 40)
                CHECK_STR(id.groups[39], "group-39");
        CHECK_INT(id.n_extra, 1);
        if (id.n_extra == 1) {
                CHECK_STR(id.extra[0].key, "authentication.kubernetes.io/pod-name");
                CHECK_INT(id.extra[0].n_values, 2);
        }
        kos_identity_clear(&id);
        json_decref(status);

        status = json_pack("{s:b,s:s}", "authenticated", 0, "error", "token expired");
        CHECK_INT(kos_authz_parse_token_review(status, &id, why, sizeof(why)), -1);
        CHECK(strstr(why, "token expired") != NULL);
        CHECK(id.user == NULL);
        json_decref(status);
        status = json_pack("{s:b,s:{}}", "authenticated", 1, "user");
        CHECK_INT(kos_authz_parse_token_review(status, &id, why, sizeof(why)), -1);
        json_decref(status);
}

int main(void)
{
        test_precedence();
        test_configmap_lists();
        test_token_review_user();
        return check_result("authz");
}
