/* Unit tests for the selector-carried scaling parameters (adapter/scaling.c): parsing and bad
 * values, the partition cap, activation, offsetResetPolicy for uncommitted partitions, topic
 * regex, weights; and through kos_provider_answer the values an HPA reads from a hand-built
 * snapshot. */
#include "provider.h"
#include "route.h"
#include "scaling.h"
#include "selector.h"
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The selector of the last parse(): the parameters borrow weight topics from it. */
static kos_selector_t *cur_sel;

/* Parses text as a selector and its parameters; returns the parse result (0/-1, -2 when the
 * selector grammar itself refuses it), errstr set. */
static int parse(const char *text, kos_scaling_t *sc, char *err, size_t err_size)
{
        kos_selector_destroy(cur_sel);
        cur_sel = kos_selector_parse(text, err, err_size);
        if (!cur_sel)
                return -2;
        return kos_scaling_parse(cur_sel, sc, err, err_size);
}

static int parse_fails(const char *text, const char *want_in_error)
{
        kos_scaling_t sc;
        char err[512] = "";
        int rc = parse(text, &sc, err, sizeof(err));
        if (rc == 0) {
                kos_scaling_clear(&sc);
                fprintf(stderr, "accepted: %s\n", text);
                return 0;
        }
        if (want_in_error && !strstr(err, want_in_error)) {
                fprintf(stderr, "error for %s: %s (want \"%s\")\n", text, err, want_in_error);
                return 0;
        }
        return 1;
}

static void test_parse(void)
{
        kos_scaling_t sc;
        char err[512];
        CHECK_INT(parse("group=g", &sc, err, sizeof(err)), 0);
        CHECK_INT(sc.lag_threshold, 0);
        CHECK_INT(sc.activation, 0);
        CHECK_INT(sc.policy, -1);
        CHECK_INT(sc.has_regex, 0);
        kos_scaling_clear(&sc);

        CHECK_INT(parse("group=g,lagThreshold=100,activationLagThreshold=5,"
                        "limitToPartitionsWithLag=true,offsetResetPolicy=earliest,"
                        "scaleToZeroOnInvalidOffset=True",
                        &sc, err, sizeof(err)),
                  0);
        CHECK_INT(sc.lag_threshold, 100);
        CHECK_INT(sc.activation, 5);
        CHECK_INT(sc.limit_to_lagging, 1);
        CHECK_INT(sc.allow_idle, 0);
        CHECK_INT(sc.policy, KOS_NOCOMMIT_EARLIEST);
        CHECK_INT(sc.zero_on_invalid, 1);
        kos_scaling_clear(&sc);
        /* `in (v)` with one value is the same as `=` */
        CHECK_INT(parse("lagThreshold in (7),allowIdleConsumers=false", &sc, err, sizeof(err)), 0);
        CHECK_INT(sc.lag_threshold, 7);
        kos_scaling_clear(&sc);
        CHECK_INT(parse(NULL, &sc, err, sizeof(err)), -2);
        CHECK_INT(kos_scaling_parse(NULL, &sc, err, sizeof(err)), 0);
        kos_scaling_clear(&sc);

        /* bad values: each a clear error naming the key */
        CHECK(parse_fails("lagThreshold=0", "lagThreshold=0: must be a positive integer"));
        CHECK(parse_fails("lagThreshold=abc", "lagThreshold=abc"));
        CHECK(parse_fails("lagThreshold=1.5", "lagThreshold=1.5"));
        CHECK(parse_fails("lagThreshold=99999999999999999999", "must be a positive integer"));
        CHECK(parse_fails("lagThreshold=", "lagThreshold="));
        /* a negative number is not even a label value: the selector grammar refuses it */
        CHECK(parse_fails("lagThreshold=-5", "invalid label value"));
        CHECK(parse_fails("activationLagThreshold=x1", "activationLagThreshold=x1"));
        CHECK(parse_fails("allowIdleConsumers=yes", "must be true or false"));
        CHECK(parse_fails("offsetResetPolicy=none", "must be latest or earliest"));
        CHECK(parse_fails("lagThreshold=1,lagThreshold=2", "lagThreshold is given twice"));
        CHECK(parse_fails("lagThreshold in (1,2)", "give it once"));
        CHECK(parse_fails("lagThreshold!=1", "give it once"));
        CHECK(parse_fails("lagThreshold", "give it once"));
        CHECK(parse_fails("lagThreshold=5,allowIdleConsumers=true,limitToPartitionsWithLag=true",
                          "cannot both be true"));
        CHECK(parse_fails("limitToPartitionsWithLag=true", "needs lagThreshold"));
        CHECK(parse_fails("allowIdleConsumers=1", "needs lagThreshold"));
}

static void test_value(void)
{
        kos_scaling_t sc;
        char err[256];
        /* no parameters: the lag as it is */
        CHECK_INT(parse("group=g", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_value(&sc, 12345, 8, 3), 12345);
        CHECK_INT(kos_scaling_value(&sc, 0, 8, 0), 0);
        CHECK_INT(kos_scaling_value(NULL, 77, 8, 0), 77);
        kos_scaling_clear(&sc);

        /* a threshold caps at threshold x partitions: ceil(value/100) <= 8 */
        CHECK_INT(parse("lagThreshold=100", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_value(&sc, 100000, 8, 3), 800);
        CHECK_INT(kos_scaling_value(&sc, 850, 8, 3), 800); /* KEDA's integer division keeps 850 */
        CHECK_INT(kos_scaling_value(&sc, 799, 8, 3), 799);
        CHECK_INT(kos_scaling_value(&sc, 1, 8, 1), 1);
        CHECK_INT(kos_scaling_value(&sc, 500, 0, 0), 0); /* no partitions: nobody to scale */
        kos_scaling_clear(&sc);

        /* limitToPartitionsWithLag: x partitions with lag */
        CHECK_INT(parse("lagThreshold=100,limitToPartitionsWithLag=true", &sc, err, sizeof(err)),
                  0);
        CHECK_INT(kos_scaling_value(&sc, 100000, 8, 3), 300);
        CHECK_INT(kos_scaling_value(&sc, 100000, 8, 0), 0);
        kos_scaling_clear(&sc);

        /* allowIdleConsumers: no cap */
        CHECK_INT(parse("lagThreshold=100,allowIdleConsumers=true", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_value(&sc, 100000, 8, 3), 100000);
        kos_scaling_clear(&sc);

        /* huge threshold x partitions saturates instead of wrapping negative */
        CHECK_INT(parse("lagThreshold=9223372036854775807", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_value(&sc, INT64_MAX - 1, 8, 8), INT64_MAX - 1);
        CHECK_INT(kos_scaling_value(&sc, 5, 8, 8), 5);
        kos_scaling_clear(&sc);

        /* activation: 0 while lag <= N, then the real (capped) value */
        CHECK_INT(parse("activationLagThreshold=10,lagThreshold=100", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_value(&sc, 0, 8, 0), 0);
        CHECK_INT(kos_scaling_value(&sc, 10, 8, 1), 0);
        CHECK_INT(kos_scaling_value(&sc, 11, 8, 1), 11);
        CHECK_INT(kos_scaling_value(&sc, 5000, 8, 8), 800);
        kos_scaling_clear(&sc);
}

static kos_part_lag_t mkpart(const char *topic, int32_t partition, int64_t committed, int64_t end,
                             int64_t log_start, kos_nocommit_policy_t policy)
{
        kos_part_lag_t p = {.topic = strdup(topic),
                            .partition = partition,
                            .committed = committed,
                            .end = end,
                            .log_start = log_start,
                            .lag = kos_part_lag_compute(committed, end, log_start, policy),
                            .head_ts_ms = -1,
                            .member = -1};
        return p;
}

static void test_part_lag(void)
{
        kos_scaling_t sc;
        char err[256];
        const kos_nocommit_policy_t E = KOS_NOCOMMIT_EARLIEST;
        kos_part_lag_t nocommit = mkpart("t", 0, KOS_OFFSET_UNKNOWN, 1000, 400, E);
        kos_part_lag_t committed = mkpart("t", 1, 900, 1000, 400, E);
        kos_part_lag_t below_start = mkpart("t", 2, 100, 1000, 400, E);
        kos_part_lag_t unknown_end = mkpart("t", 3, KOS_OFFSET_UNKNOWN, -1, 0, E);
        kos_part_lag_t empty = mkpart("t", 4, KOS_OFFSET_UNKNOWN, 0, 0, E);

        /* no policy in the selector: the snapshot's lag (adapter --no-commit-policy) */
        CHECK_INT(parse("group=g", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_part_lag(&sc, &nocommit), 600);
        CHECK_INT(kos_scaling_part_lag(&sc, &committed), 100);
        CHECK_INT(kos_scaling_part_lag(&sc, &below_start), 600); /* retention: from log start */
        CHECK_INT(kos_scaling_part_lag(NULL, &nocommit), 600);
        kos_scaling_clear(&sc);

        /* latest (KEDA): an uncommitted partition counts 1, never its whole log (issue 2612) */
        CHECK_INT(parse("offsetResetPolicy=latest", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_part_lag(&sc, &nocommit), 1);
        CHECK_INT(kos_scaling_part_lag(&sc, &empty), 1);
        CHECK_INT(kos_scaling_part_lag(&sc, &committed), 100);
        CHECK_INT(kos_scaling_part_lag(&sc, &unknown_end), -1);
        kos_scaling_clear(&sc);
        CHECK_INT(parse("offsetResetPolicy=latest,scaleToZeroOnInvalidOffset=true", &sc, err,
                        sizeof(err)),
                  0);
        CHECK_INT(kos_scaling_part_lag(&sc, &nocommit), 0);
        kos_scaling_clear(&sc);

        /* earliest: what is retained, end - log start (KEDA issue 7936), not end */
        CHECK_INT(parse("offsetResetPolicy=earliest", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_part_lag(&sc, &nocommit), 600);
        CHECK_INT(kos_scaling_part_lag(&sc, &empty), 0);
        CHECK_INT(kos_scaling_part_lag(&sc, &below_start), 600);
        kos_scaling_clear(&sc);
        CHECK_INT(parse("offsetResetPolicy=earliest,scaleToZeroOnInvalidOffset=true", &sc, err,
                        sizeof(err)),
                  0);
        CHECK_INT(kos_scaling_part_lag(&sc, &nocommit), 0);
        kos_scaling_clear(&sc);

        /* the snapshot's latest policy (0) overridden by a request's earliest */
        kos_part_lag_t nocommit_l =
            mkpart("t", 5, KOS_OFFSET_UNKNOWN, 1000, 400, KOS_NOCOMMIT_LATEST);
        CHECK_INT(nocommit_l.lag, 0);
        CHECK_INT(parse("offsetResetPolicy=earliest", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_part_lag(&sc, &nocommit_l), 600);
        kos_scaling_clear(&sc);
        kos_part_lag_t *all[] = {&nocommit,    &committed, &below_start,
                                 &unknown_end, &empty,     &nocommit_l};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
                free(all[i]->topic);
}

/* printf '%s' RE | base64 | tr '+/' '-_' | tr -d '=' */
static void test_regex(void)
{
        char out[64];
        CHECK_INT(kos_base64url_decode("b3JkZXJzLS4q", out, sizeof(out)), 9);
        CHECK_STR(out, "orders-.*");
        CHECK_INT(kos_base64url_decode("YQ", out, sizeof(out)), 1);
        CHECK_STR(out, "a");
        CHECK_INT(kos_base64url_decode("YR", out, sizeof(out)), -1); /* non-zero spare bits */
        CHECK_INT(kos_base64url_decode("Y", out, sizeof(out)), -1);
        CHECK_INT(kos_base64url_decode("Y.Q", out, sizeof(out)), -1);
        CHECK_INT(kos_base64url_decode("b3JkZXJzLS4q", out, 5), -1); /* too small */
        CHECK_INT(kos_base64url_decode("", out, sizeof(out)), 0);

        kos_scaling_t sc;
        char err[512];
        /* orders-.* */
        CHECK_INT(parse("topicRegex=b3JkZXJzLS4q", &sc, err, sizeof(err)), 0);
        CHECK(kos_scaling_topic_selected(&sc, "orders-eu"));
        CHECK(kos_scaling_topic_selected(&sc, "orders-"));
        CHECK(!kos_scaling_topic_selected(&sc, "xorders-eu")); /* anchored: whole name */
        CHECK(!kos_scaling_topic_selected(&sc, "payments"));
        kos_scaling_clear(&sc);
        /* a|b: anchoring wraps the whole alternation, so "xa" does not match */
        CHECK_INT(parse("topicRegex=YXxi", &sc, err, sizeof(err)), 0);
        CHECK(kos_scaling_topic_selected(&sc, "a"));
        CHECK(kos_scaling_topic_selected(&sc, "b"));
        CHECK(!kos_scaling_topic_selected(&sc, "xa"));
        CHECK(!kos_scaling_topic_selected(&sc, "bx"));
        kos_scaling_clear(&sc);
        CHECK(kos_scaling_topic_selected(NULL, "anything"));

        CHECK(parse_fails("topicRegex=not.base64", "not base64url"));
        CHECK(parse_fails("topicRegex=b3JkZXJzKA", "not a POSIX extended regular expression"));
        /* ((a{0,99}){0,99}){0,99}: refused, not compiled */
        CHECK(parse_fails("topicRegex=KChhezAsOTl9KXswLDk5fSl7MCw5OX0", "interval expressions"));
        /* (a)\1 */
        CHECK(parse_fails("topicRegex=KGEpXDE", "back-references"));
        /* a tab byte */
        CHECK(parse_fails("topicRegex=YQli", "printable ASCII"));
        CHECK(parse_fails("topicRegex=Y", "not base64url"));
        CHECK(parse_fails("topicRegex=YQ,topicRegex=Yg", "given twice"));
}

static void test_weights(void)
{
        kos_scaling_t sc;
        char err[512];
        CHECK_INT(parse("weight.kos.io/orders=2,weight.kos.io/audit-log=0.5,weight.kos.io/x=0", &sc,
                        err, sizeof(err)),
                  0);
        CHECK_INT(sc.n_weights, 3);
        CHECK_INT(kos_scaling_weight_milli(&sc, "orders"), 2000);
        CHECK_INT(kos_scaling_weight_milli(&sc, "audit-log"), 500);
        CHECK_INT(kos_scaling_weight_milli(&sc, "x"), 0);
        CHECK_INT(kos_scaling_weight_milli(&sc, "other"), 1000);
        CHECK_INT(kos_scaling_weight_milli(NULL, "other"), 1000);
        kos_scaling_clear(&sc);
        CHECK_INT(parse("weight.kos.io/t=1.125", &sc, err, sizeof(err)), 0);
        CHECK_INT(kos_scaling_weight_milli(&sc, "t"), 1125);
        kos_scaling_clear(&sc);
        CHECK(parse_fails("weight.kos.io/t=1.1234", "at most 3 decimals"));
        CHECK(parse_fails("weight.kos.io/t=abc", "weight.kos.io/t=abc"));
        CHECK(parse_fails("weight.kos.io/t=1000001", "from 0 to 1000000"));
        CHECK(parse_fails("weight.kos.io/t=1e3", "at most 3 decimals"));
        CHECK(parse_fails("weight.kos.io/t=1.", NULL)); /* not a label value */
        CHECK(parse_fails("weight.kos.io/t!=1", "give it once"));
}

/* ---- through the provider ---------------------------------------------------------------- */

static kos_snapshot_t *snap_8(int64_t now, const int64_t *lags, size_t n, const char *topic)
{
        kos_snapshot_t *s = kos_snapshot_new();
        s->taken_ms = now;
        s->n_groups = 1;
        s->groups = calloc(1, sizeof(*s->groups));
        kos_group_lag_t *g = &s->groups[0];
        g->group_id = strdup("g");
        g->state = strdup("Empty");
        g->parts = calloc(n + 2, sizeof(*g->parts));
        for (size_t i = 0; i < n; i++)
                g->parts[i] =
                    mkpart(topic, (int32_t)i, 1000, 1000 + lags[i], 0, KOS_NOCOMMIT_EARLIEST);
        /* another topic, lag 40 and 60, to show regex and weights */
        g->parts[n] = mkpart("zz-other", 0, 0, 40, 0, KOS_NOCOMMIT_EARLIEST);
        g->parts[n + 1] = mkpart("zz-other", 1, 0, 60, 0, KOS_NOCOMMIT_EARLIEST);
        g->n_parts = n + 2;
        kos_snapshot_finish(s);
        return s;
}

/* Value served for External kafka_consumergroup_lag with this selector; -status on error. */
static long long external(const kos_snapshot_t *s, int64_t now, const char *selector, char *msg,
                          size_t msg_size)
{
        char query[1024];
        kos_request_t req;
        kos_route_error_t rerr;
        snprintf(query, sizeof(query), "labelSelector=%s", selector);
        if (kos_route_parse("GET",
                            "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/"
                            "kafka_consumergroup_lag",
                            query, &req, &rerr) == -1) {
                snprintf(msg, msg_size, "%s", rerr.message);
                return -rerr.http_status;
        }
        kos_provider_conf_t pc = {.max_staleness_ms = 10000, .headroom_budget = 100};
        kos_answer_t ans;
        kos_provider_answer(&pc, s, now, NULL, &req, NULL, &ans);
        long long v = ans.status == 200 && ans.values.n == 1 ? ans.values.items[0].value : -1;
        if (ans.status != 200)
                v = -ans.status;
        snprintf(msg, msg_size, "%s", ans.message);
        kos_answer_clear(&ans);
        kos_request_clear(&req);
        return v;
}

static void test_provider(void)
{
        const int64_t now = 1700000000000;
        const int64_t lags[8] = {5000, 5000, 5000, 0, 0, 0, 0, 0};
        kos_snapshot_t *s = snap_8(now, lags, 8, "orders");
        char msg[1024];
        /* 15000 + 100 of zz-other; 10 partitions */
        CHECK_INT(external(s, now, "group%3Dg", msg, sizeof(msg)), 15100);
        CHECK_INT(external(s, now, "group%3Dg,lagThreshold%3D100", msg, sizeof(msg)), 1000);
        /* partitions with lag: 3 of orders + 2 of zz-other */
        CHECK_INT(external(s, now, "group%3Dg,lagThreshold%3D100,limitToPartitionsWithLag%3Dtrue",
                           msg, sizeof(msg)),
                  500);
        CHECK_INT(external(s, now, "group%3Dg,lagThreshold%3D100,allowIdleConsumers%3Dtrue", msg,
                           sizeof(msg)),
                  15100);
        /* topic=orders (a series label) and a parameter together */
        CHECK_INT(external(s, now,
                           "group%3Dg,topic%3Dorders,lagThreshold%3D100,"
                           "limitToPartitionsWithLag%3Dtrue",
                           msg, sizeof(msg)),
                  300);
        /* topicRegex zz-.* */
        CHECK_INT(external(s, now, "group%3Dg,topicRegex%3DenotLio", msg, sizeof(msg)), 100);
        /* weights: orders x 0.5, zz-other x 2 */
        CHECK_INT(external(s, now,
                           "group%3Dg,weight.kos.io%2Forders%3D0.5,weight.kos.io%2Fzz-other%3D2",
                           msg, sizeof(msg)),
                  7700);
        /* activation: 15100 <= 20000 -> 0 */
        CHECK_INT(external(s, now, "group%3Dg,activationLagThreshold%3D20000", msg, sizeof(msg)),
                  0);
        CHECK_INT(external(s, now, "group%3Dg,activationLagThreshold%3D15099", msg, sizeof(msg)),
                  15100);
        /* bad values: 400 with the reason, never a value */
        CHECK_INT(external(s, now, "group%3Dg,lagThreshold%3Dmany", msg, sizeof(msg)), -400);
        CHECK(strstr(msg, "invalid metric selector: lagThreshold=many") != NULL);
        CHECK_INT(external(s, now, "group%3Dg,topicRegex%3DKGEpXDE", msg, sizeof(msg)), -400);
        CHECK(strstr(msg, "back-references") != NULL);
        /* a bad parameter is a 400 even before the first snapshot */
        CHECK_INT(external(NULL, now, "group%3Dg,lagThreshold%3D0", msg, sizeof(msg)), -400);
        kos_snapshot_unref(s);

        /* lag far above threshold x partitions: capped at exactly 8 x threshold */
        const int64_t big[8] = {1000000, 1000000, 1000000, 1000000,
                                1000000, 1000000, 1000000, 1000000};
        s = snap_8(now, big, 8, "orders");
        CHECK_INT(external(s, now, "group%3Dg,topic%3Dorders,lagThreshold%3D100", msg, sizeof(msg)),
                  800);
        kos_snapshot_unref(s);
}

int main(void)
{
        test_parse();
        test_value();
        test_part_lag();
        test_regex();
        test_weights();
        test_provider();
        kos_selector_destroy(cur_sel);
        return check_result("scaling");
}
