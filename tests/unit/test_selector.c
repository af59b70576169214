/* Unit tests for adapter/selector.c: the apimachinery label-selector grammar, matching rules
 * (absent labels, gt/lt), input bounds, and the metav1.LabelSelector JSON rendering. */
#include "selector.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Labels as a NULL-terminated list of key, value pairs. */
static const char *get_label(void *opaque, const char *key)
{
        const char **kv = opaque;

        for (; kv[0]; kv += 2)
                if (!strcmp(kv[0], key))
                        return kv[1];
        return NULL;
}

static int matches(const char *text, const char **labels)
{
        char err[512];
        kos_selector_t *sel = kos_selector_parse(text, err, sizeof(err));
        int m;

        if (!sel) {
                fprintf(stderr, "parse(%s) failed: %s\n", text, err);
                return -1;
        }
        m = kos_selector_matches(sel, get_label, (void *)labels);
        kos_selector_destroy(sel);
        return m;
}

/* Parses text and returns its JSON rendering in out (or "ERR: <message>"). */
static const char *render(const char *text, char *out, size_t size)
{
        char err[512];
        kos_selector_t *sel = kos_selector_parse(text, err, sizeof(err));

        if (!sel) {
                snprintf(out, size, "ERR: %s", err);
                return out;
        }
        if (kos_selector_to_json(sel, out, size) < 0)
                snprintf(out, size, "ERR: too small");
        kos_selector_destroy(sel);
        return out;
}

static void test_operators(void)
{
        char err[512];
        kos_selector_t *sel;

        sel = kos_selector_parse("a=b,c==d,e!=f,g in (h,i),j notin (k),l,!m,n>5,o<7", err,
                                 sizeof(err));
        CHECK(sel != NULL);
        if (!sel)
                return;
        CHECK_INT(sel->n_reqs, 9);
        CHECK_STR(sel->reqs[0].key, "a");
        CHECK_INT(sel->reqs[0].op, KOS_SEL_EQ);
        CHECK_STR(sel->reqs[0].values[0], "b");
        CHECK_INT(sel->reqs[1].op, KOS_SEL_EQ);
        CHECK_STR(sel->reqs[1].values[0], "d");
        CHECK_INT(sel->reqs[2].op, KOS_SEL_NEQ);
        CHECK_INT(sel->reqs[3].op, KOS_SEL_IN);
        CHECK_INT(sel->reqs[3].n_values, 2);
        CHECK_STR(sel->reqs[3].values[0], "h");
        CHECK_STR(sel->reqs[3].values[1], "i");
        CHECK_INT(sel->reqs[4].op, KOS_SEL_NOTIN);
        CHECK_INT(sel->reqs[5].op, KOS_SEL_EXISTS);
        CHECK_INT(sel->reqs[5].n_values, 0);
        CHECK_STR(sel->reqs[6].key, "m");
        CHECK_INT(sel->reqs[6].op, KOS_SEL_NOT_EXISTS);
        CHECK_INT(sel->reqs[7].op, KOS_SEL_GT);
        CHECK_STR(sel->reqs[7].values[0], "5");
        CHECK_INT(sel->reqs[8].op, KOS_SEL_LT);
        kos_selector_destroy(sel);

        /* Sorted by key, values sorted and deduplicated, like apimachinery's internalSelector. */
        sel = kos_selector_parse("z=1,a in (c,b,c)", err, sizeof(err));
        CHECK(sel != NULL);
        if (sel) {
                CHECK_STR(sel->reqs[0].key, "a");
                CHECK_INT(sel->reqs[0].n_values, 2);
                CHECK_STR(sel->reqs[0].values[0], "b");
                CHECK_STR(sel->reqs[0].values[1], "c");
                CHECK_STR(sel->reqs[1].key, "z");
        }
        kos_selector_destroy(sel);

        /* `in`/`notin` are plain identifiers where a key or value is expected. */
        sel = kos_selector_parse("in in (in,notin)", err, sizeof(err));
        CHECK(sel != NULL);
        if (sel) {
                CHECK_STR(sel->reqs[0].key, "in");
                CHECK_INT(sel->reqs[0].op, KOS_SEL_IN);
                CHECK_INT(sel->reqs[0].n_values, 2);
        }
        kos_selector_destroy(sel);
}

static void test_whitespace_and_empty(void)
{
        char err[512];
        kos_selector_t *sel;
        const char *ok[] = {
            "a = b",
            " a=b ",
            "a==b",
            "a == b , c != d",
            "a in(b,c)",
            "a in ( b , c )",
            "\ta notin (b)\n",
            "a,b",
            "!a , b",
            "a=",
            "a=,b=c",
            "a==",
            "a!=",
            "a in (b,)",
            "a in (,b)",
            "a in ()",
            "a in (b,,c)",
            "a notin ( )",
            "x in (foo,,baz),y,z notin ()",
        };

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                sel = kos_selector_parse(ok[i], err, sizeof(err));
                if (!sel)
                        fprintf(stderr, "should parse: '%s': %s\n", ok[i], err);
                CHECK(sel != NULL);
                kos_selector_destroy(sel);
        }

        sel = kos_selector_parse("", err, sizeof(err));
        CHECK(sel != NULL && sel->n_reqs == 0);
        kos_selector_destroy(sel);
        sel = kos_selector_parse("  \t\n ", err, sizeof(err));
        CHECK(sel != NULL && sel->n_reqs == 0);
        kos_selector_destroy(sel);

        sel = kos_selector_parse("a=", err, sizeof(err));
        CHECK(sel && sel->n_reqs == 1 && sel->reqs[0].n_values == 1 &&
              !strcmp(sel->reqs[0].values[0], ""));
        kos_selector_destroy(sel);

        /* apimachinery: `()` and empty list items are the empty value. */
        sel = kos_selector_parse("a in (b,,c)", err, sizeof(err));
        CHECK(sel && sel->reqs[0].n_values == 3 && !strcmp(sel->reqs[0].values[0], ""));
        kos_selector_destroy(sel);
        sel = kos_selector_parse("a notin ()", err, sizeof(err));
        CHECK(sel && sel->reqs[0].n_values == 1 && !strcmp(sel->reqs[0].values[0], ""));
        kos_selector_destroy(sel);

        /* Prefixed keys. */
        sel = kos_selector_parse("app.kubernetes.io/name=kafka,example.com/x-y_z.w in (a)", err,
                                 sizeof(err));
        CHECK(sel != NULL);
        if (sel) {
                CHECK_STR(sel->reqs[0].key, "app.kubernetes.io/name");
                CHECK_STR(sel->reqs[1].key, "example.com/x-y_z.w");
        }
        kos_selector_destroy(sel);
}

static void test_errors(void)
{
        char err[512], big[20 * 1024 + 1], many[8192];
        const char *bad[] = {
            "a in (b",
            "in (x)",
            "a=b=c",
            ",",
            "a,",
            "=b",
            "a b",
            "a=b c",
            "a>b",
            "a<1.5",
            "a>-1",
            "!",
            "!a=b",
            "a in b",
            "a in (b c)",
            "a in (b,=)",
            "a notin",
            "a=(b)",
            "a==b==c",
            "a=b,,c=d",
            "a b=c",
            "a=b c",
            "a=\x01",
            "a\x01=b",
            "a=b d",
            "a=has space",
            "_a=b",
            "a-=b",
            "a=b-",
            "A.com/b=c",
            "/b=c",
            "a/=c",
            "a/b/c=d",
            "-a.com/b=c",
            "a=01234567890123456789012345678901234567890123456789012345678901234",
            "a1234567890123456789012345678901234567890123456789012345678901234=b",
            "a>99999999999999999999",
            "a in (x,y",
            "(a)",
            ")",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                kos_selector_t *sel;

                err[0] = '\0';
                sel = kos_selector_parse(bad[i], err, sizeof(err));
                if (sel)
                        fprintf(stderr, "should fail: '%s'\n", bad[i]);
                CHECK(sel == NULL);
                CHECK(err[0] != '\0');
                kos_selector_destroy(sel);
        }

        /* The exact apimachinery messages for the common cases. */
        CHECK(kos_selector_parse("(", err, sizeof(err)) == NULL);
        CHECK_STR(err, "found '(', expected: !, identifier, or 'end of string'");
        CHECK(kos_selector_parse("a in (b", err, sizeof(err)) == NULL);
        CHECK_STR(err, "unable to parse requirement: found '', expected: ',' or ')'");
        CHECK(kos_selector_parse("a=b=c", err, sizeof(err)) == NULL);
        CHECK_STR(err, "found '=', expected: ',' or 'end of string'");
        CHECK(kos_selector_parse("a,", err, sizeof(err)) == NULL);
        CHECK_STR(err, "found '', expected: identifier after ','");
        CHECK(kos_selector_parse("!", err, sizeof(err)) == NULL);
        CHECK_STR(err, "unable to parse requirement: found '', expected: identifier");
        CHECK(kos_selector_parse("in (x)", err, sizeof(err)) == NULL);
        CHECK_STR(err, "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, "
                       "gt, lt");
        CHECK(kos_selector_parse("a>b", err, sizeof(err)) == NULL);
        CHECK(strstr(err, "must be an integer") != NULL);
        CHECK(kos_selector_parse("a b=c", err, sizeof(err)) == NULL);
        CHECK(strstr(err, "found 'b'") != NULL);
        CHECK(kos_selector_parse("_a=b", err, sizeof(err)) == NULL);
        CHECK(strncmp(err, "unable to parse requirement: invalid label key \"_a\"", 50) == 0);
        CHECK(kos_selector_parse("a=b c", err, sizeof(err)) == NULL);
        CHECK(kos_selector_parse("a=-b", err, sizeof(err)) == NULL);
        CHECK(strstr(err, "invalid label value") != NULL);

        /* NULL text, tiny or NULL error buffers. */
        CHECK(kos_selector_parse(NULL, err, sizeof(err)) == NULL);
        CHECK(kos_selector_parse("a in (", NULL, 0) == NULL);
        char tiny[4] = "xxx";
        CHECK(kos_selector_parse("a in (", tiny, sizeof(tiny)) == NULL);
        CHECK_STR(tiny, "una");

        /* Size bounds. */
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        CHECK(kos_selector_parse(big, err, sizeof(err)) == NULL);
        CHECK(strstr(err, "too long") != NULL);

        size_t o = 0;
        for (int i = 0; i < 300; i++)
                o += (size_t)snprintf(many + o, sizeof(many) - o, "%sk%d", i ? "," : "", i);
        CHECK(kos_selector_parse(many, err, sizeof(err)) == NULL);
        CHECK(strstr(err, "too many requirements") != NULL);

        o = (size_t)snprintf(many, sizeof(many), "k in (");
        for (int i = 0; i < 300; i++)
                o += (size_t)snprintf(many + o, sizeof(many) - o, "%sv%d", i ? "," : "", i);
        snprintf(many + o, sizeof(many) - o, ")");
        CHECK(kos_selector_parse(many, err, sizeof(err)) == NULL);
        CHECK(strstr(err, "too many values") != NULL);

        /* Exactly at the limits is fine. */
        o = 0;
        for (int i = 0; i < KOS_SELECTOR_MAX_REQS; i++)
                o += (size_t)snprintf(many + o, sizeof(many) - o, "%sk%d", i ? "," : "", i);
        kos_selector_t *sel = kos_selector_parse(many, err, sizeof(err));
        CHECK(sel && sel->n_reqs == KOS_SELECTOR_MAX_REQS);
        kos_selector_destroy(sel);

        /* Key parts at their maximum lengths. */
        char key[400];
        memset(key, 'p', 253);
        key[253] = '/';
        memset(key + 254, 'n', 63);
        strcpy(key + 317, "=v");
        sel = kos_selector_parse(key, err, sizeof(err));
        CHECK(sel != NULL);
        kos_selector_destroy(sel);
        memset(key, 'p', 254);
        key[254] = '/';
        memset(key + 255, 'n', 63);
        strcpy(key + 318, "=v");
        CHECK(kos_selector_parse(key, err, sizeof(err)) == NULL);
}

static void test_matching(void)
{
        const char *l_ab[] = {"a",     "b", "n", "10", "neg", "-3", "app.kubernetes.io/name",
                              "kafka", NULL};
        const char *none[] = {NULL};

        CHECK_INT(matches("a=b", l_ab), 1);
        CHECK_INT(matches("a==b", l_ab), 1);
        CHECK_INT(matches("a=c", l_ab), 0);
        CHECK_INT(matches("a=b", none), 0);
        CHECK_INT(matches("a!=c", l_ab), 1);
        CHECK_INT(matches("a!=b", l_ab), 0);
        CHECK_INT(matches("a!=b", none), 1); /* absent label matches != */
        CHECK_INT(matches("a in (x,b)", l_ab), 1);
        CHECK_INT(matches("a in (x,y)", l_ab), 0);
        CHECK_INT(matches("a in (x,b)", none), 0);
        CHECK_INT(matches("a notin (x,y)", l_ab), 1);
        CHECK_INT(matches("a notin (b)", l_ab), 0);
        CHECK_INT(matches("a notin (b)", none), 1); /* absent label matches notin */
        CHECK_INT(matches("a", l_ab), 1);
        CHECK_INT(matches("a", none), 0);
        CHECK_INT(matches("!a", l_ab), 0);
        CHECK_INT(matches("!a", none), 1);
        CHECK_INT(matches("n>5", l_ab), 1);
        CHECK_INT(matches("n>10", l_ab), 0);
        CHECK_INT(matches("n<11", l_ab), 1);
        CHECK_INT(matches("n<10", l_ab), 0);
        CHECK_INT(matches("neg<0", l_ab), 1); /* label values parse with a sign */
        CHECK_INT(matches("a>1", l_ab), 0);   /* non-integer label never matches gt/lt */
        CHECK_INT(matches("a<1", l_ab), 0);
        CHECK_INT(matches("x>1", l_ab), 0); /* absent */
        CHECK_INT(matches("x<1", none), 0);
        CHECK_INT(matches("a=b,n>5,!x,app.kubernetes.io/name in (kafka)", l_ab), 1);
        CHECK_INT(matches("a=b,n>50", l_ab), 0);
        CHECK_INT(matches("a=", none), 0);
        CHECK_INT(matches("a in ()", l_ab), 0);
        CHECK_INT(matches("", none), 1);
        CHECK_INT(kos_selector_matches(NULL, get_label, (void *)none), 1);

        const char *empty_val[] = {"a", "", NULL};
        CHECK_INT(matches("a=", empty_val), 1);
        CHECK_INT(matches("a in (x,,y)", empty_val), 1);
        CHECK_INT(matches("a", empty_val), 1);

        const char *big[] = {"n", "9223372036854775807", "m", "9223372036854775808", NULL};
        CHECK_INT(matches("n>9223372036854775806", big), 1);
        CHECK_INT(matches("m>1", big), 0); /* overflows int64: not a number */
}

static void test_equals_value(void)
{
        char err[256];
        kos_selector_t *sel =
            kos_selector_parse("topic=orders,group in (g1),x in (a,b),y!=z,w", err, sizeof(err));

        CHECK(sel != NULL);
        CHECK_STR(kos_selector_equals_value(sel, "topic"), "orders");
        CHECK_STR(kos_selector_equals_value(sel, "group"), "g1");
        CHECK(kos_selector_equals_value(sel, "x") == NULL);
        CHECK(kos_selector_equals_value(sel, "y") == NULL);
        CHECK(kos_selector_equals_value(sel, "w") == NULL);
        CHECK(kos_selector_equals_value(sel, "nope") == NULL);
        CHECK(kos_selector_equals_value(NULL, "topic") == NULL);
        kos_selector_destroy(sel);
        kos_selector_destroy(NULL);
}

static void test_json(void)
{
        char out[1024], small[8];
        kos_selector_t *sel;

        CHECK_STR(render("", out, sizeof(out)), "null");
        CHECK_INT(kos_selector_to_json(NULL, out, sizeof(out)), 4);
        CHECK_STR(out, "null");
        CHECK_STR(render("a=b", out, sizeof(out)), "{\"matchLabels\":{\"a\":\"b\"}}");
        CHECK_STR(render("a=b,c==d", out, sizeof(out)),
                  "{\"matchLabels\":{\"a\":\"b\",\"c\":\"d\"}}");
        CHECK_STR(render("a in (y,x)", out, sizeof(out)),
                  "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[\"x\","
                  "\"y\"]}]}");
        CHECK_STR(render("topic=t,a notin (x),b,!c,d!=e,n>5,m<3", out, sizeof(out)),
                  "{\"matchLabels\":{\"topic\":\"t\"},\"matchExpressions\":["
                  "{\"key\":\"a\",\"operator\":\"NotIn\",\"values\":[\"x\"]},"
                  "{\"key\":\"b\",\"operator\":\"Exists\"},"
                  "{\"key\":\"c\",\"operator\":\"DoesNotExist\"},"
                  "{\"key\":\"d\",\"operator\":\"NotIn\",\"values\":[\"e\"]},"
                  "{\"key\":\"m\",\"operator\":\"Lt\",\"values\":[\"3\"]},"
                  "{\"key\":\"n\",\"operator\":\"Gt\",\"values\":[\"5\"]}]}");
        /* A second equality on the same key cannot be a matchLabels entry. */
        CHECK_STR(render("a=b,a=c", out, sizeof(out)),
                  "{\"matchLabels\":{\"a\":\"b\"},\"matchExpressions\":[{\"key\":\"a\","
                  "\"operator\":\"In\",\"values\":[\"c\"]}]}");
        CHECK_STR(render("a=", out, sizeof(out)), "{\"matchLabels\":{\"a\":\"\"}}");

        sel = kos_selector_parse("a=b", NULL, 0);
        CHECK_INT(kos_selector_to_json(sel, small, sizeof(small)), -1);
        CHECK_INT(kos_selector_to_json(sel, out, 26), 25);
        CHECK_INT(kos_selector_to_json(sel, out, 25), -1);
        CHECK_INT(kos_selector_to_json(sel, NULL, 0), -1);
        CHECK_INT(kos_selector_to_json(NULL, small, 4), -1);

        /* Hand-built selectors with characters the parser would refuse are still escaped. */
        char k[] = "q\"\\\n", v[] = "x";
        char *vals[] = {v};
        kos_sel_req_t r = {.key = k, .op = KOS_SEL_EQ, .values = vals, .n_values = 1};
        kos_selector_t hand = {.reqs = &r, .n_reqs = 1};
        CHECK(kos_selector_to_json(&hand, out, sizeof(out)) > 0);
        CHECK_STR(out, "{\"matchLabels\":{\"q\\\"\\\\\\u000a\":\"x\"}}");
        kos_selector_destroy(sel);
}

int main(void)
{
        test_operators();
        test_whitespace_and_empty();
        test_errors();
        test_matching();
        test_equals_value();
        test_json();
        return check_result("selector");
}
