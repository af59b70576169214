/* Unit tests for adapter/auth.c with real certificates from tests/unit/data/certs (made by
 * certs/gen-certs.sh and tests/unit/data/certs/make-extra.sh): peer verification against the
 * request-header CA and the client CA, the front-proxy identity from X-Remote-* headers, and
 * the errors of kos_auth_new. */
#include "auth.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

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

/* Flag-style settings: the defaults, with each non-NULL list replaced as pflag would. */
static void conf_with(kos_auth_conf_t *c, const char *allowed, const char *user_hdrs,
                      const char *group_hdrs)
{
        char err[256];
        kos_auth_conf_defaults(c);
        c->requestheader_client_ca_file = CERTS "front-proxy-ca.crt";
        c->client_ca_file = CERTS "client-ca.crt";
        if (allowed)
                CHECK_INT(kos_strlist_parse_flag(&c->requestheader_allowed_names, "--a", allowed,
                                                 err, sizeof(err)),
                          0);
        if (user_hdrs) {
                kos_strlist_clear(&c->requestheader_username_headers);
                CHECK_INT(kos_strlist_parse_flag(&c->requestheader_username_headers, "--u",
                                                 user_hdrs, err, sizeof(err)),
                          0);
        }
        if (group_hdrs) {
                kos_strlist_clear(&c->requestheader_group_headers);
                CHECK_INT(kos_strlist_parse_flag(&c->requestheader_group_headers, "--g", group_hdrs,
                                                 err, sizeof(err)),
                          0);
        }
}

static kos_auth_t *auth_with(const char *allowed, const char *user_hdrs, const char *group_hdrs)
{
        kos_auth_conf_t c;
        conf_with(&c, allowed, user_hdrs, group_hdrs);
        char err[512] = "";
        kos_auth_t *a = kos_auth_new(&c, err, sizeof(err));
        kos_auth_conf_clear(&c);
        if (!a)
                fprintf(stderr, "kos_auth_new: %s\n", err);
        CHECK(a != NULL);
        return a;
}

/* kos_auth_identify into an id that may still hold the previous answer. */
static int ident(const kos_auth_t *a, const kos_peer_t *peer, const kos_header_t *hdrs,
                 size_t n_hdrs, kos_identity_t *id, char *msg, size_t msg_size)
{
        kos_identity_clear(id);
        struct kos_fact_s *need = NULL;
        int rc = kos_auth_identify(a, peer, hdrs, n_hdrs, id, msg, msg_size, &need);
        CHECK(need == NULL); /* no token reviewer in these tests: nothing to fetch */
        return rc;
}

/* The last chain verified; the peer's strings live in it. */
static kos_peer_cert_t *last_pc;

static void verify_chain_now(const kos_auth_t *a, const void *const *der, const size_t *len,
                             size_t n, kos_peer_t *peer)
{
        kos_peer_cert_free(last_pc);
        last_pc = kos_peer_cert_new(der, len, n);
        memset(peer, 0, sizeof(*peer));
        peer->cn = "";
        peer->uid = "";
        peer->credential_id = "";
        if (last_pc)
                *peer = *kos_auth_check_peer(a, last_pc, (int64_t)time(NULL));
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
        verify_chain_now(a, chain, lens, 1, peer);
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
        verify_chain_now(a, chain, lens, 1, &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');
        CHECK_STR(p.cn, "");
        lens[0] = 0;
        verify_chain_now(a, chain, lens, 1, &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');

        /* a good leaf followed by garbage: refused as a whole */
        size_t len;
        void *der = slurp(CERTS "admin.der", &len);
        chain[0] = der;
        lens[0] = len;
        chain[1] = junk;
        lens[1] = sizeof(junk);
        verify_chain_now(a, chain, lens, 2, &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(p.reason[0] != '\0');
        free(der);

        /* no certificate at all: anonymous without a reason */
        verify_chain_now(a, chain, lens, 0, &p);
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
                char *none = kos_auth_trust_pem(a, NULL);
                CHECK_STR(none, "");
                free(none);
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
        kos_identity_t id = {0};
        char msg[256];
        const kos_header_t h[] = {{"X-Remote-User", "system:admin"},
                                  {"X-Remote-Group", "system:masters"}};
        CHECK_INT(ident(a, &p, h, 2, &id, msg, sizeof(msg)), 0);
        CHECK_STR(id.user, "front-proxy-client");
        CHECK(strcmp(id.user, "system:admin") != 0);
        CHECK_STR(id.via, "client-cert");
        CHECK_INT(id.n_groups, 1);
        CHECK_STR(id.groups[0], "system:authenticated");
        kos_identity_clear(&id);
        kos_auth_destroy(a);
}

/* k8s.io/apiserver's union of authenticators (pkg/authentication/request/union): the
 * request-header authenticator applies only when the certificate verifies
 * against the request-header CA *and* its CN is allowed; otherwise the x509 client-cert
 * authenticator is tried next. With one CA configured for both (allowed by the flags), a client
 * certificate whose CN is not an allowed proxy name is an ordinary client, as in
 * k8s.io/apiserver, and not refused. */
static void test_shared_ca_falls_through(void)
{
        kos_auth_conf_t c;
        conf_with(&c, "front-proxy-client", NULL, NULL);
        c.requestheader_client_ca_file = CERTS "client-ca.crt";
        char err[512] = "";
        kos_auth_t *a = kos_auth_new(&c, err, sizeof(err));
        kos_auth_conf_clear(&c);
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
        uint64_t gen1 = 0, gen2 = 0;
        char *pem = kos_auth_trust_pem(a, &gen1);
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
        free(pem);
        /* an update is a new generation, so the TLS layer rebuilds its CA list */
        kos_auth_conf_t c;
        conf_with(&c, NULL, NULL, NULL);
        c.requestheader_client_ca_file = NULL;
        char err[256];
        CHECK_INT(kos_auth_update(a, &c, err, sizeof(err)), 0);
        kos_auth_conf_clear(&c);
        pem = kos_auth_trust_pem(a, &gen2);
        CHECK(gen2 != gen1);
        CHECK_INT(kos_auth_generation(a), gen2);
        free(pem);
        kos_auth_destroy(a);
}

static int has_group(const kos_identity_t *id, const char *g)
{
        for (size_t i = 0; i < id->n_groups; i++)
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
        kos_identity_t id = {0};
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
        CHECK_INT(ident(a, &fp, h, sizeof(h) / sizeof(h[0]), &id, msg, sizeof(msg)), 0);
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
        CHECK_INT(ident(a, &fp, two_users, 2, &id, msg, sizeof(msg)), 0);
        CHECK_STR(id.user, "alice");
        CHECK_INT(id.n_groups, 1);
        CHECK_STR(id.groups[0], "system:authenticated");

        /* system:authenticated sent by the proxy is not listed twice */
        const kos_header_t dup[] = {{"X-Remote-User", "alice"},
                                    {"X-Remote-Group", "system:authenticated"}};
        CHECK_INT(ident(a, &fp, dup, 2, &id, msg, sizeof(msg)), 0);
        CHECK_INT(id.n_groups, 1);

        /* no user header, or an empty one: 401 naming the header */
        const kos_header_t nouser[] = {{"X-Remote-Group", "system:masters"}};
        msg[0] = '\0';
        CHECK_INT(ident(a, &fp, nouser, 1, &id, msg, sizeof(msg)), -1);
        CHECK(strstr(msg, "x-remote-user") != NULL); /* the default, as k8s spells it */
        CHECK_INT(ident(a, &fp, NULL, 0, &id, msg, sizeof(msg)), -1);
        const kos_header_t empty_user[] = {{"X-Remote-User", ""}};
        CHECK_INT(ident(a, &fp, empty_user, 1, &id, msg, sizeof(msg)), -1);
        /* a header whose name only starts like the user header is something else */
        const kos_header_t prefix[] = {{"X-Remote-User-Name", "alice"}};
        CHECK_INT(ident(a, &fp, prefix, 1, &id, msg, sizeof(msg)), -1);

        /* 33 groups: no fixed limit (issue 9.7), all kept, system:authenticated added */
        kos_header_t many[34];
        char names[33][16];
        many[0] = (kos_header_t){"X-Remote-User", "alice"};
        for (int i = 0; i < 33; i++) {
                snprintf(names[i], sizeof(names[i]), "g%d", i);
                many[i + 1] = (kos_header_t){"X-Remote-Group", names[i]};
        }
        CHECK_INT(ident(a, &fp, many, 34, &id, msg, sizeof(msg)), 0);
        CHECK_INT(id.n_groups, 34);
        if (id.n_groups == 34) {
                CHECK_STR(id.groups[32], "g32");
                CHECK_STR(id.groups[33], "system:authenticated");
        }
        kos_identity_clear(&id);
        kos_identity_clear(&id);
        kos_auth_destroy(a);
}

static void test_identify_custom_headers(void)
{
        /* pflag lists are not trimmed: " X-Spaced" (k8s: a header name with a space, which no
         * header ever has) matches nothing */
        kos_auth_t *a = auth_with("front-proxy-client", "X-Custom-User,X-Other-User, X-Spaced",
                                  "X-Custom-Group,X-Team");
        if (!a)
                return;
        kos_peer_t fp = {.kind = KOS_PEER_FRONT_PROXY, .cn = "front-proxy-client"};
        kos_identity_t id = {0};
        char msg[256];

        /* the default names mean nothing once others are configured */
        const kos_header_t std[] = {{"X-Remote-User", "alice"}, {"X-Remote-Group", "admins"}};
        msg[0] = '\0';
        CHECK_INT(ident(a, &fp, std, 2, &id, msg, sizeof(msg)), -1);
        CHECK(strstr(msg, "X-Custom-User") != NULL);

        /* the first configured user header that is present wins, whatever the line order */
        const kos_header_t h[] = {{"X-Other-User", "second"},
                                  {"x-custom-user", "first"},
                                  {"X-Remote-Group", "ignored"},
                                  {"X-Team", "t1"},
                                  {"X-Custom-Group", "c1"}};
        CHECK_INT(ident(a, &fp, h, 5, &id, msg, sizeof(msg)), 0);
        CHECK_STR(id.user, "first");
        CHECK(has_group(&id, "c1"));
        CHECK(has_group(&id, "t1"));
        CHECK(!has_group(&id, "ignored"));
        CHECK(has_group(&id, "system:authenticated"));
        CHECK_INT(id.n_groups, 3);

        const kos_header_t other[] = {{"X-Other-User", "second"}};
        CHECK_INT(ident(a, &fp, other, 1, &id, msg, sizeof(msg)), 0);
        CHECK_STR(id.user, "second");
        kos_identity_clear(&id);
        const kos_header_t spaced[] = {{"X-Spaced", "third"}};
        CHECK_INT(ident(a, &fp, spaced, 1, &id, msg, sizeof(msg)), -1);
        kos_identity_clear(&id);
        kos_auth_destroy(a);
}

static void test_identify_client_and_anonymous(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        kos_identity_t id = {0};
        char msg[256];

        /* a direct client cannot claim another identity through X-Remote-* */
        static const char *const masters[] = {"system:masters"};
        kos_peer_t cl = {.kind = KOS_PEER_CLIENT,
                         .cn = "kos-admin",
                         .orgs = masters,
                         .n_orgs = 1,
                         .uid = "",
                         .credential_id = ""};
        const kos_header_t h[] = {{"X-Remote-User", "mallory"}, {"X-Remote-Group", "evil-admins"}};
        CHECK_INT(ident(a, &cl, h, 2, &id, msg, sizeof(msg)), 0);
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
        verify_chain_now(a, chain, &len, 1, &p);
        free(der);
        CHECK_INT(ident(a, &p, h, 2, &id, msg, sizeof(msg)), 0);
        CHECK_STR(id.user, "kos-admin");
        CHECK(has_group(&id, "system:masters"));
        CHECK(!has_group(&id, "evil-admins"));

        /* anonymous: headers alone prove nothing */
        kos_peer_t none = {.kind = KOS_PEER_NONE};
        msg[0] = '\0';
        CHECK_INT(ident(a, &none, h, 2, &id, msg, sizeof(msg)), -1);
        CHECK(msg[0] != '\0');
        CHECK(id.user == NULL);
        /* a refused certificate: the reason (for the log) names it */
        der = slurp(CERTS "evil-proxy.der", &len);
        chain[0] = der;
        verify_chain_now(a, chain, &len, 1, &p);
        free(der);
        CHECK_INT(ident(a, &p, h, 2, &id, msg, sizeof(msg)), -1);
        CHECK(strstr(msg, "evil-proxy") != NULL);
        kos_identity_clear(&id);
        kos_auth_destroy(a);
}

/* Issue 9.4: k8s.io/apiserver takes user = pkix.Name.CommonName and groups =
 * pkix.Name.Organization (pkg/authentication/request/x509/x509.go CommonNameUserConversion;
 * the front-proxy allowed-names check in Verifier.verifySubject). Go's
 * pkix.Name.FillFromRDNSequence overwrites CommonName for every CN attribute, so the LAST CN in
 * DER order wins; Organization appends every O in DER order, multi-valued RDNs included. The
 * expected values were checked against Go's crypto/x509 itself. */
static void test_go_subject_rules(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        kos_peer_t p;
        /* CN=front-proxy-client,CN=x from the request-header CA: k8s sees CN "x", not allowed */
        verify(a, "two-cn-proxy", &p);
        CHECK(p.kind != KOS_PEER_FRONT_PROXY);
        /* CN=x,CN=front-proxy-client: k8s sees the allowed name */
        verify(a, "two-cn-proxy-last", &p);
        CHECK_INT(p.kind, KOS_PEER_FRONT_PROXY);
        /* CN=alice,CN=mallory from the client CA is mallory */
        verify(a, "two-cn-client", &p);
        CHECK_INT(p.kind, KOS_PEER_CLIENT);
        CHECK_STR(p.cn, "mallory");
        /* O=o-b+O=o-a / CN=cn-b+CN=cn-a / O=o-c: DER sorts each SET, Go reads DER order */
        verify(a, "multi-rdn", &p);
        CHECK_INT(p.kind, KOS_PEER_CLIENT);
        CHECK_STR(p.cn, "cn-b");
        CHECK_INT(p.n_orgs, 3);
        if (p.n_orgs == 3) {
                CHECK_STR(p.orgs[0], "o-a");
                CHECK_STR(p.orgs[1], "o-b");
                CHECK_STR(p.orgs[2], "o-c");
        }
        kos_auth_destroy(a);
}

/* Issue 9.7: no fixed limit may change an identity; only the request size bounds it. */
static void test_no_fixed_limits(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        kos_peer_t fp = {.kind = KOS_PEER_FRONT_PROXY, .cn = "front-proxy-client"};
        kos_identity_t id = {0};
        char msg[256];
        char user[1001];
        memset(user, 'u', 1000);
        user[1000] = '\0';
        enum { NG = 200 };
        static char names[NG][300];
        static kos_header_t h[NG + 1];
        h[0] = (kos_header_t){"X-Remote-User", user};
        for (int i = 0; i < NG; i++) {
                memset(names[i], 'g', 290);
                snprintf(names[i] + 290, 10, "%d", i);
                h[i + 1] = (kos_header_t){"X-Remote-Group", names[i]};
        }
        CHECK_INT(ident(a, &fp, h, NG + 1, &id, msg, sizeof(msg)), 0);
        CHECK_INT(strlen(id.user), 1000);
        CHECK_INT(id.n_groups, NG + 1);
        int n = (int)id.n_groups;
        if (n == NG + 1) {
                CHECK_STR(id.groups[n - 2], names[NG - 1]);
                CHECK_STR(id.groups[n - 1], "system:authenticated");
        }
        kos_identity_clear(&id);
        kos_identity_clear(&id);
        kos_auth_destroy(a);
}

/* CommonNameUserConversion: uid from the UID attribute (parseUIDFromCert), the credential id
 * extra X509SHA256=<hex of the leaf's DER>; two UIDs make the certificate unusable. */
static void test_client_uid_and_credential_id(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        kos_peer_t p;
        verify(a, "uid-client", &p);
        CHECK_INT(p.kind, KOS_PEER_CLIENT);
        kos_identity_t id = {0};
        char msg[256];
        CHECK_INT(ident(a, &p, NULL, 0, &id, msg, sizeof(msg)), 0);
        CHECK_STR(id.user, "carol");
        CHECK_STR(id.uid, "uid-123");
        CHECK_INT(id.n_groups, 2);
        if (id.n_groups == 2) {
                CHECK_STR(id.groups[0], "team-c");
                CHECK_STR(id.groups[1], "system:authenticated");
        }
        size_t len;
        unsigned char *der = slurp(CERTS "uid-client.der", &len);
        unsigned char fp[32];
        char want[80];
        CHECK_INT(gnutls_hash_fast(GNUTLS_DIG_SHA256, der, len, fp), 0);
        int k = snprintf(want, sizeof(want), "X509SHA256=");
        for (int i = 0; i < 32; i++)
                k += snprintf(want + k, sizeof(want) - (size_t)k, "%02x", fp[i]);
        free(der);
        CHECK_INT(id.n_extra, 1);
        if (id.n_extra == 1) {
                CHECK_STR(id.extra[0].key, "authentication.kubernetes.io/credential-id");
                CHECK_STR(id.extra[0].values[0], want);
        }
        kos_identity_clear(&id);
        verify(a, "two-uid-client", &p);
        CHECK_INT(p.kind, KOS_PEER_NONE);
        CHECK(strstr(p.reason, "UID") != NULL);
        kos_identity_clear(&id);
        kos_auth_destroy(a);
}

/* requestheader.go: headerValue takes the FIRST line of a header name (an empty one moves on
 * to the next name, not the next line); allHeaderValues keeps duplicates; newExtra lowercases
 * the key, then percent-decodes it (url.PathUnescape; a malformed escape keeps the key), and
 * keeps every value, empty ones too. */
static void test_front_proxy_header_rules(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        kos_peer_t fp = {.kind = KOS_PEER_FRONT_PROXY, .cn = "front-proxy-client"};
        kos_identity_t id = {0};
        char msg[256];
        const kos_header_t first_empty[] = {{"X-Remote-User", ""}, {"X-Remote-User", "bob"}};
        CHECK_INT(ident(a, &fp, first_empty, 2, &id, msg, sizeof(msg)), -1);

        const kos_header_t h[] = {
            {"X-Remote-User", "alice"},        {"X-Remote-Group", "g"},
            {"X-Remote-Group", "g"},           {"X-Remote-Extra-Scopes", "view"},
            {"x-remote-extra-scopes", "edit"}, {"X-Remote-Extra-Acme.com%2Fproject", "p1"},
            {"X-Remote-Extra-Bad%zZ", "v1"},   {"X-Remote-Extra-%41b", "v2"},
            {"X-Remote-Extra-Empty", ""},      {"X-Remote-Extra-Nul%00x", "v3"},
        };
        CHECK_INT(ident(a, &fp, h, sizeof(h) / sizeof(h[0]), &id, msg, sizeof(msg)), 0);
        CHECK_INT(id.n_groups, 3);
        if (id.n_groups == 3) {
                CHECK_STR(id.groups[0], "g");
                CHECK_STR(id.groups[1], "g");
                CHECK_STR(id.groups[2], "system:authenticated");
        }
        CHECK_INT(id.n_extra, 6);
        if (id.n_extra == 6) {
                CHECK_STR(id.extra[0].key, "scopes");
                CHECK_INT(id.extra[0].n_values, 2);
                CHECK_STR(id.extra[0].values[1], "edit");
                CHECK_STR(id.extra[1].key, "acme.com/project");
                CHECK_STR(id.extra[2].key, "bad%zz");
                CHECK_STR(id.extra[3].key, "Ab"); /* lowercased before decoding */
                CHECK_STR(id.extra[4].key, "empty");
                CHECK_STR(id.extra[4].values[0], "");
                CHECK_INT(id.extra[5].key_len, 5);
                CHECK(memcmp(id.extra[5].key, "nul\0x", 5) == 0);
        }
        kos_identity_t copy;
        kos_identity_copy(&copy, &id);
        CHECK_INT(copy.n_extra, id.n_extra);
        kos_identity_clear(&copy);
        kos_identity_clear(&id);
        kos_identity_clear(&id);
        kos_auth_destroy(a);
}

static time_t fake_now;
static time_t fake_time(time_t *t)
{
        if (t)
                *t = fake_now;
        return fake_now;
}

/* Issue 9.9: a connection's parsed chain is verified again whenever the CAs or the time may
 * have changed the answer (x509.Authenticator verifies on every request). */
static void test_per_request_verification(void)
{
        kos_auth_t *a = auth_with("front-proxy-client", NULL, NULL);
        if (!a)
                return;
        size_t len;
        void *der = slurp(CERTS "admin.der", &len);
        const void *chain[1] = {der};
        kos_peer_cert_t *pc = kos_peer_cert_new(chain, &len, 1);
        free(der);
        CHECK(pc != NULL);
        if (!pc) {
                kos_auth_destroy(a);
                return;
        }
        int64_t now = (int64_t)time(NULL);
        CHECK_INT(kos_auth_check_peer(a, pc, now)->kind, KOS_PEER_CLIENT);
        CHECK_INT(kos_auth_check_peer(a, pc, now + 1)->kind, KOS_PEER_CLIENT);
        /* the client CA is rotated away: the same connection's next request is refused */
        kos_auth_conf_t c;
        conf_with(&c, NULL, NULL, NULL);
        c.client_ca_file = NULL;
        char err[256];
        CHECK_INT(kos_auth_update(a, &c, err, sizeof(err)), 0);
        CHECK_INT(kos_auth_check_peer(a, pc, now + 2)->kind, KOS_PEER_NONE);
        c.client_ca_file = CERTS "client-ca.crt";
        CHECK_INT(kos_auth_update(a, &c, err, sizeof(err)), 0);
        kos_auth_conf_clear(&c);
        CHECK_INT(kos_auth_check_peer(a, pc, now + 3)->kind, KOS_PEER_CLIENT);
        /* past the certificate's notAfter (2054): refused on the same connection */
        fake_now = (time_t)40 * 365 * 86400 + time(NULL);
        gnutls_global_set_time_function(fake_time);
        CHECK_INT(kos_auth_check_peer(a, pc, (int64_t)fake_now)->kind, KOS_PEER_NONE);
        gnutls_global_set_time_function(time);
        CHECK_INT(kos_auth_check_peer(a, pc, now + 4)->kind, KOS_PEER_CLIENT);
        kos_peer_cert_free(pc);
        kos_auth_destroy(a);
}

/* pflag StringSlice values (encoding/csv) and DelegatingAuthenticationOptions.Validate. */
static void test_flag_lists(void)
{
        char err[256];
        kos_strlist_t l = {0};
        CHECK_INT(kos_strlist_parse_flag(&l, "--x", "a,\"b,c\", d,\"e\"\"f\"", err, sizeof(err)),
                  0);
        CHECK_INT(l.n, 4);
        if (l.n == 4) {
                CHECK_STR(l.v[0], "a");
                CHECK_STR(l.v[1], "b,c");
                CHECK_STR(l.v[2], " d");
                CHECK_STR(l.v[3], "e\"f");
        }
        kos_strlist_clear(&l);
        CHECK_INT(kos_strlist_parse_flag(&l, "--x", "", err, sizeof(err)), 0);
        CHECK_INT(l.n, 0);
        static const char *const bad[] = {"a\"b", "\"open", "a,,b", " ", "\"q\"x"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                CHECK_INT(kos_strlist_parse_flag(&l, "--x", bad[i], err, sizeof(err)), -1);
                CHECK(err[0] != '\0');
                kos_strlist_clear(&l);
        }
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

        /* whitespace-only list items are refused (DelegatingAuthenticationOptions.Validate) */
        kos_strlist_t l = {0};
        err[0] = '\0';
        CHECK_INT(
            kos_strlist_parse_flag(&l, "--requestheader-username-headers", " , ", err, sizeof(err)),
            -1);
        CHECK(strstr(err, "requestheader-username-headers") != NULL);
        kos_strlist_clear(&l);

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
        test_go_subject_rules();
        test_no_fixed_limits();
        test_client_uid_and_credential_id();
        test_front_proxy_header_rules();
        test_per_request_verification();
        test_flag_lists();
        kos_peer_cert_free(last_pc);
        return check_result("auth");
}
