/* Unit tests for adapter/auth.c with real certificates from tests/unit/data/certs (made by
 * certs/gen-certs.sh and tests/unit/data/certs/make-extra.sh): peer verification against the
 * request-header CA and the client CA, the front-proxy identity from X-Remote-* headers, and
 * the errors of kos_auth_new. */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static struct kos_fact_s *need; /* never set: no token reviewer in these tests */

#define CERTS KOS_TEST_DATA "/certs/"

static void *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                fprintf(stderr, "cannot open %s\n", path);
                *len = 0;
                return NULL;
        }
        char *buf = malloc(1 << 16);
        *len = fread(buf, 1, 1 << 16, f);
        fclose(f);
        return buf;
}

static kos_auth_t *auth_with(const char *allowed, const char *user_hdrs, const char *group_hdrs)
{
        kos_auth_conf_t c = {
            .requestheader_client_ca_file = CERTS "front-proxy-ca.crt",
            .requestheader_allowed_names = allowed,
            .requestheader_username_headers = user_hdrs,
            .requestheader_group_headers = group_hdrs,
            .client_ca_file = CERTS "client-ca.crt",
        };
        char err[512] = "";
        kos_auth_t *a = kos_auth_new(&c, err, sizeof(err));
        if (!a)
                fprintf(stderr, "kos_auth_new: %s\n", err);
        CHECK(a != NULL);
        return a;
}

/* Verifies the DER certificate <name>.der as a one-certificate chain. */
static void verify(const kos_auth_t *a, const char *name, kos_peer_t *peer)
{
        char path[512];
        snprintf(path, sizeof(path), CERTS "%s.der", name);
        size_t len;
        void *der = slurp(path, &len);
        CHECK(der != NULL && len > 100);
        const void *chain[1] = {der};
        size_t lens[1] = {len};
        memset(peer, 0x5a, sizeof(*peer)); /* the result must not depend on what was there */
        kos_auth_verify_peer(a, chain, lens, 1, peer);
        free(der);
}

static void test_verify_peer(void)
{
        kos_auth_t *a = auth_with("front-proxy-client, aggregator", NULL, NULL);
        if (!a)
                return;
        kos_peer_t p;

        /* the aggregator's front-proxy client certificate */
        verify(a, "front-proxy-client", &p);
        CHECK_INT(p.kind, KOS_PEER_FRONT_PROXY);
        CHECK_STR(p.cn, "front-proxy-client");
        CHECK_STR(p.reason, "");

        /* signed by the request-header CA, but its CN is not an allowed name */
        verify(a, "evil-proxy", &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(strstr(p.reason, "evil-proxy") != NULL);
        CHECK(strstr(p.reason, "allowed") != NULL);

        /* a direct client: user = CN, groups = O */
        verify(a, "admin", &p);
        CHECK_INT(p.kind, KOS_PEER_CLIENT);
        CHECK_STR(p.cn, "kos-admin");
        CHECK_INT(p.n_orgs, 1);
        CHECK_STR(p.orgs[0], "system:masters");
        CHECK_STR(p.reason, "");

        verify(a, "multi-org", &p);
        CHECK_INT(p.kind, KOS_PEER_CLIENT);
        CHECK_STR(p.cn, "ops");
        CHECK_INT(p.n_orgs, 2);
        CHECK_STR(p.orgs[0], "team-a");
        CHECK_STR(p.orgs[1], "team-b");

        /* same subject as admin, but issued by a CA nobody trusts */
        verify(a, "unknown-client", &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');
        CHECK_INT(p.n_orgs, 0);

        /* self-signed */
        verify(a, "self-signed", &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');

        /* signed by the client CA but only for serverAuth: not a client certificate */
        verify(a, "client-ca-server", &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');

        /* the adapter's own serving certificate (another CA, serverAuth) */
        verify(a, "serving", &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');

        /* garbage bytes */
        static const unsigned char junk[] = {0x30, 0x82, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef};
        const void *chain[2] = {junk};
        size_t lens[2] = {sizeof(junk)};
        kos_auth_verify_peer(a, chain, lens, 1, &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');
        CHECK_STR(p.cn, "");
        lens[0] = 0;
        kos_auth_verify_peer(a, chain, lens, 1, &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');

        /* a good leaf followed by garbage: refused as a whole */
        size_t len;
        void *der = slurp(CERTS "admin.der", &len);
        chain[0] = der;
        lens[0] = len;
        chain[1] = junk;
        lens[1] = sizeof(junk);
        kos_auth_verify_peer(a, chain, lens, 2, &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');
        free(der);

        /* no certificate at all: anonymous without a reason */
        kos_auth_verify_peer(a, chain, lens, 0, &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK_STR(p.reason, "");

        kos_auth_destroy(a);

        /* no allowed names configured: any CN the request-header CA signed is a front proxy */
        a = auth_with("", NULL, NULL);
        if (a) {
                verify(a, "evil-proxy", &p);
                CHECK_INT(p.kind, KOS_PEER_FRONT_PROXY);
                CHECK_STR(p.cn, "evil-proxy");
                kos_auth_destroy(a);
        }
        a = auth_with(NULL, NULL, NULL);
        if (a) {
                verify(a, "front-proxy-client", &p);
                CHECK_INT(p.kind, KOS_PEER_FRONT_PROXY);
                kos_auth_destroy(a);
        }
}

static void test_verify_peer_partial_config(void)
{
        char err[512];
        kos_peer_t p;

        /* only a client CA: the front-proxy certificate is just an untrusted client */
        kos_auth_conf_t c1 = {.client_ca_file = CERTS "client-ca.crt"};
        kos_auth_t *a = kos_auth_new(&c1, err, sizeof(err));
        CHECK(a != NULL);
        if (a) {
                verify(a, "front-proxy-client", &p);
                CHECK_INT(p.kind, KOS_PEER_NONE);
                CHECK(p.reason[0] != '\0');
                verify(a, "admin", &p);
                CHECK_INT(p.kind, KOS_PEER_CLIENT);
                kos_auth_destroy(a);
        }

        /* only a request-header CA: admin.crt is not trusted */
        kos_auth_conf_t c2 = {.requestheader_client_ca_file = CERTS "front-proxy-ca.crt"};
        a = kos_auth_new(&c2, err, sizeof(err));
        CHECK(a != NULL);
        if (a) {
                verify(a, "admin", &p);
                CHECK_INT(p.kind, KOS_PEER_NONE);
                CHECK(p.reason[0] != '\0');
                verify(a, "front-proxy-client", &p);
                CHECK_INT(p.kind, KOS_PEER_FRONT_PROXY);
                kos_auth_destroy(a);
        }

        /* nothing configured: every certificate is refused with a reason */
        kos_auth_conf_t c3 = {0};
        a = kos_auth_new(&c3, err, sizeof(err));
        CHECK(a != NULL);
        if (a) {
                CHECK_STR(kos_auth_trust_pem(a), "");
                verify(a, "admin", &p);
                CHECK_INT(p.kind, KOS_PEER_NONE);
                CHECK(p.reason[0] != '\0');
                kos_auth_destroy(a);
        }
}

/* A certificate from the client CA that carries the front proxy's CN is a direct client
 * named "front-proxy-client", not the front proxy: its X-Remote-* headers are ignored. */
static void test_fake_proxy(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        kos_peer_t p;
        verify(a, "fake-proxy", &p);
        CHECK_INT(p.kind, KOS_PEER_CLIENT);
        CHECK_STR(p.cn, "front-proxy-client");
        kos_identity_t id;
        char msg[256];
        const kos_header_t h[] = {{"X-Remote-User", "system:admin"},
                                  {"X-Remote-Group", "system:masters"}};
        CHECK_INT(kos_auth_identify(a, &p, h, 2, &id, msg, sizeof(msg), &need), 0);
        CHECK_STR(id.user, "front-proxy-client");
        CHECK(strcmp(id.user, "system:admin") != 0);
        CHECK_STR(id.via, "client-cert");
        CHECK_INT(id.n_groups, 1);
        CHECK_STR(id.groups[0], "system:authenticated");
        kos_auth_destroy(a);
}

/* api.md 5.1: the request-header authenticator applies only when the certificate verifies
 * against the request-header CA *and* its CN is allowed; otherwise the x509 client-cert
 * authenticator is tried next. With one CA configured for both (allowed by the flags), a client
 * certificate whose CN is not an allowed proxy name is an ordinary client, as in
 * k8s.io/apiserver, and not refused. */
static void test_shared_ca_falls_through(void)
{
        kos_auth_conf_t c = {.requestheader_client_ca_file = CERTS "client-ca.crt",
                             .requestheader_allowed_names = "front-proxy-client",
                             .client_ca_file = CERTS "client-ca.crt"};
        char err[512] = "";
        kos_auth_t *a = kos_auth_new(&c, err, sizeof(err));
        CHECK(a != NULL);
        if (!a)
                return;
        kos_peer_t p;
        /* CN front-proxy-client from the shared CA: the front proxy */
        verify(a, "fake-proxy", &p);
        CHECK_INT(p.kind, KOS_PEER_FRONT_PROXY);
        /* CN kos-admin from the shared CA: not an allowed proxy, so a direct client */
        verify(a, "admin", &p);
        if (p.kind != KOS_PEER_CLIENT)
                fprintf(stderr, "shared CA: admin.crt refused: %s\n", p.reason);
        CHECK_INT(p.kind, KOS_PEER_CLIENT);
        CHECK_STR(p.cn, "kos-admin");
        kos_auth_destroy(a);
}

static void test_trust_pem(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        const char *pem = kos_auth_trust_pem(a);
        CHECK(pem != NULL);
        size_t l1, l2;
        char *rh = slurp(CERTS "front-proxy-ca.crt", &l1);
        char *cl = slurp(CERTS "client-ca.crt", &l2);
        CHECK(rh && cl);
        if (pem && rh && cl) {
                rh[l1] = '\0';
                cl[l2] = '\0';
                /* both CAs are offered in the CertificateRequest */
                CHECK(strstr(pem, rh) != NULL);
                CHECK(strstr(pem, cl) != NULL);
        }
        free(rh);
        free(cl);
        kos_auth_destroy(a);
}

static int has_group(const kos_identity_t *id, const char *g)
{
        for (int i = 0; i < id->n_groups; i++)
                if (strcmp(id->groups[i], g) == 0)
                        return 1;
        return 0;
}

static void test_identify_front_proxy(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        kos_peer_t fp = {.kind = KOS_PEER_FRONT_PROXY, .cn = "front-proxy-client"};
        kos_identity_t id;
        char msg[256];

        const kos_header_t h[] = {
            {"Accept", "application/json"},
            {"X-Remote-Group", "system:serviceaccounts"},
            {"x-remote-user", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"},
            {"X-REMOTE-GROUP", "team,with,commas"},
            {"X-Remote-Group", "system:serviceaccounts:kube-system"},
            {"X-Remote-Group", ""},
            {"X-Remote-Extra-Scopes", "x"},
        };
        CHECK_INT(
            kos_auth_identify(a, &fp, h, sizeof(h) / sizeof(h[0]), &id, msg, sizeof(msg), &need),
            0);
        CHECK_STR(id.user, "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
        CHECK_STR(id.via, "front-proxy");
        /* every group line kept in order, a comma is not a separator, authenticated added */
        CHECK_INT(id.n_groups, 4);
        CHECK_STR(id.groups[0], "system:serviceaccounts");
        CHECK_STR(id.groups[1], "team,with,commas");
        CHECK_STR(id.groups[2], "system:serviceaccounts:kube-system");
        CHECK_STR(id.groups[3], "system:authenticated");
        CHECK(!has_group(&id, "team"));
        CHECK(!has_group(&id, ""));

        /* the first X-Remote-User line is the user */
        const kos_header_t two_users[] = {{"X-Remote-User", "alice"}, {"X-Remote-User", "bob"}};
        CHECK_INT(kos_auth_identify(a, &fp, two_users, 2, &id, msg, sizeof(msg), &need), 0);
        CHECK_STR(id.user, "alice");
        CHECK_INT(id.n_groups, 1);
        CHECK_STR(id.groups[0], "system:authenticated");

        /* system:authenticated sent by the proxy is not listed twice */
        const kos_header_t dup[] = {{"X-Remote-User", "alice"},
                                    {"X-Remote-Group", "system:authenticated"}};
        CHECK_INT(kos_auth_identify(a, &fp, dup, 2, &id, msg, sizeof(msg), &need), 0);
        CHECK_INT(id.n_groups, 1);

        /* no user header, or an empty one: 401 naming the header */
        const kos_header_t nouser[] = {{"X-Remote-Group", "system:masters"}};
        msg[0] = '\0';
        CHECK_INT(kos_auth_identify(a, &fp, nouser, 1, &id, msg, sizeof(msg), &need), -1);
        CHECK(strstr(msg, "X-Remote-User") != NULL);
        CHECK_INT(kos_auth_identify(a, &fp, NULL, 0, &id, msg, sizeof(msg), &need), -1);
        const kos_header_t empty_user[] = {{"X-Remote-User", ""}};
        CHECK_INT(kos_auth_identify(a, &fp, empty_user, 1, &id, msg, sizeof(msg), &need), -1);
        /* a header whose name only starts like the user header is something else */
        const kos_header_t prefix[] = {{"X-Remote-User-Name", "alice"}};
        CHECK_INT(kos_auth_identify(a, &fp, prefix, 1, &id, msg, sizeof(msg), &need), -1);

        /* 33 groups are more than the identity holds: refused, never truncated */
        kos_header_t many[34];
        char names[33][16];
        many[0] = (kos_header_t){"X-Remote-User", "alice"};
        for (int i = 0; i < 33; i++) {
                snprintf(names[i], sizeof(names[i]), "g%d", i);
                many[i + 1] = (kos_header_t){"X-Remote-Group", names[i]};
        }
        CHECK_INT(kos_auth_identify(a, &fp, many, 34, &id, msg, sizeof(msg), &need), -1);
        /* 32 groups fit, and system:authenticated is still added (groups has a spare slot) */
        CHECK_INT(kos_auth_identify(a, &fp, many, 33, &id, msg, sizeof(msg), &need), 0);
        CHECK_STR(id.groups[31], "g31");
        if (!has_group(&id, "system:authenticated"))
                fprintf(stderr, "32 groups: system:authenticated missing (n_groups %d)\n",
                        id.n_groups);
        CHECK(has_group(&id, "system:authenticated"));
        CHECK_INT(id.n_groups, 33);
        kos_auth_destroy(a);
}

static void test_identify_custom_headers(void)
{
        kos_auth_t *a =
            auth_with("front-proxy-client", "X-Custom-User, X-Other-User", "X-Custom-Group,X-Team");
        if (!a)
                return;
        kos_peer_t fp = {.kind = KOS_PEER_FRONT_PROXY, .cn = "front-proxy-client"};
        kos_identity_t id;
        char msg[256];

        /* the default names mean nothing once others are configured */
        const kos_header_t std[] = {{"X-Remote-User", "alice"}, {"X-Remote-Group", "admins"}};
        msg[0] = '\0';
        CHECK_INT(kos_auth_identify(a, &fp, std, 2, &id, msg, sizeof(msg), &need), -1);
        CHECK(strstr(msg, "X-Custom-User") != NULL);

        /* the first configured user header that is present wins, whatever the line order */
        const kos_header_t h[] = {{"X-Other-User", "second"},
                                  {"x-custom-user", "first"},
                                  {"X-Remote-Group", "ignored"},
                                  {"X-Team", "t1"},
                                  {"X-Custom-Group", "c1"}};
        CHECK_INT(kos_auth_identify(a, &fp, h, 5, &id, msg, sizeof(msg), &need), 0);
        CHECK_STR(id.user, "first");
        CHECK(has_group(&id, "c1"));
        CHECK(has_group(&id, "t1"));
        CHECK(!has_group(&id, "ignored"));
        CHECK(has_group(&id, "system:authenticated"));
        CHECK_INT(id.n_groups, 3);

        const kos_header_t other[] = {{"X-Other-User", "second"}};
        CHECK_INT(kos_auth_identify(a, &fp, other, 1, &id, msg, sizeof(msg), &need), 0);
        CHECK_STR(id.user, "second");
        kos_auth_destroy(a);
}

static void test_identify_client_and_anonymous(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        kos_identity_t id;
        char msg[256];

        /* a direct client cannot claim another identity through X-Remote-* */
        kos_peer_t cl = {.kind = KOS_PEER_CLIENT, .cn = "kos-admin", .n_orgs = 1};
        snprintf(cl.orgs[0], sizeof(cl.orgs[0]), "system:masters");
        const kos_header_t h[] = {{"X-Remote-User", "mallory"}, {"X-Remote-Group", "evil-admins"}};
        CHECK_INT(kos_auth_identify(a, &cl, h, 2, &id, msg, sizeof(msg), &need), 0);
        CHECK_STR(id.user, "kos-admin");
        CHECK_STR(id.via, "client-cert");
        CHECK_INT(id.n_groups, 2);
        CHECK_STR(id.groups[0], "system:masters");
        CHECK_STR(id.groups[1], "system:authenticated");
        CHECK(!has_group(&id, "evil-admins"));

        /* a real verified certificate end to end */
        size_t len;
        void *der = slurp(CERTS "admin.der", &len);
        const void *chain[1] = {der};
        kos_peer_t p;
        kos_auth_verify_peer(a, chain, &len, 1, &p);
        free(der);
        CHECK_INT(kos_auth_identify(a, &p, h, 2, &id, msg, sizeof(msg), &need), 0);
        CHECK_STR(id.user, "kos-admin");
        CHECK(has_group(&id, "system:masters"));
        CHECK(!has_group(&id, "evil-admins"));

        /* anonymous: headers alone prove nothing */
        kos_peer_t none = {.kind = KOS_PEER_NONE};
        msg[0] = '\0';
        CHECK_INT(kos_auth_identify(a, &none, h, 2, &id, msg, sizeof(msg), &need), -1);
        CHECK(strstr(msg, "Unauthorized") != NULL);
        CHECK_STR(id.user, "");
        /* a refused certificate: the reason is part of the 401 message */
        der = slurp(CERTS "evil-proxy.der", &len);
        chain[0] = der;
        kos_auth_verify_peer(a, chain, &len, 1, &p);
        free(der);
        CHECK_INT(kos_auth_identify(a, &p, h, 2, &id, msg, sizeof(msg), &need), -1);
        CHECK(strstr(msg, "Unauthorized") != NULL);
        CHECK(strstr(msg, "evil-proxy") != NULL);
        kos_auth_destroy(a);
}

static void test_auth_new_errors(void)
{
        char err[512];
        kos_auth_conf_t c = {.requestheader_client_ca_file = "/nonexistent/front-proxy-ca.crt",
                             .client_ca_file = CERTS "client-ca.crt"};
        err[0] = '\0';
        CHECK(kos_auth_new(&c, err, sizeof(err)) == NULL);
        CHECK(strstr(err, "/nonexistent/front-proxy-ca.crt") != NULL);

        c.requestheader_client_ca_file = CERTS "front-proxy-ca.crt";
        c.client_ca_file = "/nonexistent/client-ca.crt";
        err[0] = '\0';
        CHECK(kos_auth_new(&c, err, sizeof(err)) == NULL);
        CHECK(strstr(err, "/nonexistent/client-ca.crt") != NULL);

        /* a file without any PEM certificate */
        c.client_ca_file = CERTS "not-a-cert.pem";
        err[0] = '\0';
        CHECK(kos_auth_new(&c, err, sizeof(err)) == NULL);
        CHECK(strstr(err, CERTS "not-a-cert.pem") != NULL);

        /* a DER file is not a PEM bundle either */
        c.client_ca_file = CERTS "admin.der";
        err[0] = '\0';
        CHECK(kos_auth_new(&c, err, sizeof(err)) == NULL);
        CHECK(strstr(err, CERTS "admin.der") != NULL);

        /* an empty user header list cannot identify anybody */
        kos_auth_conf_t e = {.requestheader_client_ca_file = CERTS "front-proxy-ca.crt",
                             .requestheader_username_headers = " , "};
        err[0] = '\0';
        CHECK(kos_auth_new(&e, err, sizeof(err)) == NULL);
        CHECK(err[0] != '\0');

        kos_auth_destroy(NULL);
}

int main(void)
{
        test_verify_peer();
        test_verify_peer_partial_config();
        test_fake_proxy();
        test_shared_ca_falls_through();
        test_trust_pem();
        test_identify_front_proxy();
        test_identify_custom_headers();
        test_identify_client_and_anonymous();
        test_auth_new_errors();
        return check_result("auth");
}
