/* Unit tests for adapter/mapping.c: the mapping-file format documented in mapping.h (comments,
 * blank lines, `*` namespace/name, topic lists), first-match lookup, topic admission, and
 * every refused input naming origin:line. */
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static const char doc[] = "# namespace  resource          name       group               [topics]\n"
                          "\n"
                          "default      deployments.apps  processor  KINGOFSCALING-APP\n"
                          "   \t  \n"
                          "default      pods              *          KINGOFSCALING-APP   "
                          "GAME-FRAME-RQ,GAME-FRAME-RS   # trailing comment\n"
                          "*            namespaces        *          KINGOFSCALING-APP\n"
                          "# a commented-out rule: default deployments.apps other G\n"
                          "team-a\tStatefulSets.Apps\tworker\tgroup-a\tin\r\n"
                          "*            deployments.apps  processor  fallback-group\n"
                          "default      deployments.apps  *          catch-all";

static int count_topics(const kos_mapping_rule_t *r)
{
        int n = 0;
        for (char **t = r->topics; t && *t; t++)
                n++;
        return n;
}

static void test_parse_documented_format(void)
{
        char err[256] = "";
        kos_mapping_t *m = kos_mapping_parse(doc, "doc", err, sizeof(err));
        CHECK(m != NULL);
        if (!m) {
                fprintf(stderr, "parse: %s\n", err);
                return;
        }
        CHECK_INT(m->n_rules, 6);

        const kos_mapping_rule_t *r = &m->rules[0];
        CHECK_STR(r->namespace_, "default");
        CHECK_STR(r->resource, "deployments.apps");
        CHECK_STR(r->name, "processor");
        CHECK_STR(r->group, "KINGOFSCALING-APP"); /* group ids keep their case */
        CHECK(r->topics == NULL);                 /* no list = all topics */

        r = &m->rules[1];
        CHECK_STR(r->resource, "pods");
        CHECK_STR(r->name, "*");
        CHECK_INT(count_topics(r), 2);
        if (count_topics(r) == 2) {
                CHECK_STR(r->topics[0], "GAME-FRAME-RQ");
                CHECK_STR(r->topics[1], "GAME-FRAME-RS");
        }

        r = &m->rules[2];
        CHECK_STR(r->namespace_, "*");
        CHECK_STR(r->resource, "namespaces");

        /* tabs separate fields, a CR before the LF is ignored, the resource is lowercased */
        r = &m->rules[3];
        CHECK_STR(r->namespace_, "team-a");
        CHECK_STR(r->resource, "statefulsets.apps");
        CHECK_STR(r->name, "worker");
        CHECK_STR(r->group, "group-a");
        CHECK_INT(count_topics(r), 1);
        if (count_topics(r) == 1)
                CHECK_STR(r->topics[0], "in");

        /* the last line has no newline */
        CHECK_STR(m->rules[5].group, "catch-all");
        kos_mapping_destroy(m);
}

static void test_find_first_match(void)
{
        char err[256];
        kos_mapping_t *m = kos_mapping_parse(doc, "doc", err, sizeof(err));
        CHECK(m != NULL);
        if (!m)
                return;
        const kos_mapping_rule_t *r;

        /* exact rule before the `*` namespace rule and the `*` name rule */
        r = kos_mapping_find(m, "default", "deployments.apps", "processor");
        CHECK(r == &m->rules[0]);
        /* another namespace: the `*` namespace rule further down */
        r = kos_mapping_find(m, "prod", "deployments.apps", "processor");
        CHECK(r == &m->rules[4]);
        CHECK_STR(r ? r->group : NULL, "fallback-group");
        /* another name in default: the `*` name rule */
        r = kos_mapping_find(m, "default", "deployments.apps", "api");
        CHECK(r == &m->rules[5]);
        /* nothing for another name in another namespace */
        CHECK(kos_mapping_find(m, "prod", "deployments.apps", "api") == NULL);
        /* the resource must match exactly: plural alone is another resource */
        CHECK(kos_mapping_find(m, "default", "deployments", "processor") == NULL);
        CHECK(kos_mapping_find(m, "default", "deployments.apps.x", "processor") == NULL);
        /* pods wildcard rule matches any pod name, and "*" itself */
        CHECK(kos_mapping_find(m, "default", "pods", "pod-a") == &m->rules[1]);
        CHECK(kos_mapping_find(m, "default", "pods", "*") == &m->rules[1]);
        CHECK(kos_mapping_find(m, "other", "pods", "pod-a") == NULL);
        /* namespaces: any */
        CHECK(kos_mapping_find(m, "kube-system", "namespaces", "kube-system") == &m->rules[2]);
        CHECK(kos_mapping_find(m, "", "namespaces", "default") == &m->rules[2]);
        /* lowercased rule resource */
        CHECK(kos_mapping_find(m, "team-a", "statefulsets.apps", "worker") == &m->rules[3]);
        CHECK(kos_mapping_find(m, "team-b", "statefulsets.apps", "worker") == NULL);
        /* a NULL mapping finds nothing */
        CHECK(kos_mapping_find(NULL, "default", "pods", "x") == NULL);

        /* order matters: the same two rules the other way round */
        kos_mapping_t *m2 = kos_mapping_parse("* deployments.apps processor second\n"
                                              "default deployments.apps processor first\n",
                                              "m2", err, sizeof(err));
        CHECK(m2 != NULL);
        if (m2) {
                r = kos_mapping_find(m2, "default", "deployments.apps", "processor");
                CHECK_STR(r ? r->group : NULL, "second");
                kos_mapping_destroy(m2);
        }
        kos_mapping_destroy(m);
}

static void test_has_topic(void)
{
        char err[256];
        kos_mapping_t *m = kos_mapping_parse("default pods * g a,b,c\n"
                                             "default deployments.apps d g\n"
                                             "default statefulsets.apps s g x,,y,\n",
                                             "t", err, sizeof(err));
        CHECK(m != NULL);
        if (!m)
                return;
        const kos_mapping_rule_t *r = &m->rules[0];
        CHECK_INT(kos_mapping_rule_has_topic(r, "a"), 1);
        CHECK_INT(kos_mapping_rule_has_topic(r, "b"), 1);
        CHECK_INT(kos_mapping_rule_has_topic(r, "c"), 1);
        CHECK_INT(kos_mapping_rule_has_topic(r, "d"), 0);
        CHECK_INT(kos_mapping_rule_has_topic(r, "A"), 0); /* topic names are case-sensitive */
        CHECK_INT(kos_mapping_rule_has_topic(r, "a,b"), 0);
        CHECK_INT(kos_mapping_rule_has_topic(r, ""), 0);
        /* no list: every topic */
        CHECK_INT(kos_mapping_rule_has_topic(&m->rules[1], "anything"), 1);
        CHECK_INT(kos_mapping_rule_has_topic(NULL, "anything"), 1);
        /* empty list items are skipped, not turned into "" topics */
        r = &m->rules[2];
        CHECK_INT(count_topics(r), 2);
        CHECK_INT(kos_mapping_rule_has_topic(r, "x"), 1);
        CHECK_INT(kos_mapping_rule_has_topic(r, "y"), 1);
        CHECK_INT(kos_mapping_rule_has_topic(r, ""), 0);
        kos_mapping_destroy(m);
}

/* Expects text to be refused with "<origin>:<line>:" in the error. */
static void bad(const char *text, int line, const char *also)
{
        char err[256] = "";
        char want[64];
        kos_mapping_t *m = kos_mapping_parse(text, "rules.txt", err, sizeof(err));
        CHECK(m == NULL);
        kos_mapping_destroy(m);
        snprintf(want, sizeof(want), "rules.txt:%d:", line);
        if (!strstr(err, want))
                fprintf(stderr, "error for line %d: \"%s\"\n", line, err);
        CHECK(strstr(err, want) != NULL);
        if (also)
                CHECK(strstr(err, also) != NULL);
}

static void test_bad_inputs(void)
{
        /* 3 fields */
        bad("default deployments.apps processor\n", 1, NULL);
        bad("# header\n\ndefault deployments.apps processor\n", 3, NULL);
        bad("default pods * g\ndefault deployments.apps processor", 2, NULL);
        /* 1 and 2 fields */
        bad("default\n", 1, NULL);
        bad("\n\n\n\ndefault pods\n", 5, NULL);
        /* 6 fields */
        bad("default pods * g a,b extra\n", 1, "too many fields");
        bad("default pods * g\n# c\ndefault pods * g a,b c d\n", 3, "too many fields");
        /* `*` as resource */
        bad("default * processor g\n", 1, "resource");
        bad("default pods * g\n* * * g\n", 2, "resource");
        /* control characters inside a field */
        bad("default pods * g\ndefault deploy\x01ments.apps x g\n", 2, "invalid field");
        bad("default pods * gr\x7foup\n", 1, "invalid field");
        bad("default pods na\x1bme g\n", 1, "invalid field");
        bad("default pods * g top\x02ic\n", 1, "invalid field");
        /* a field over 249 bytes */
        char longline[400];
        memset(longline, 0, sizeof(longline));
        strcpy(longline, "default pods * ");
        memset(longline + strlen(longline), 'g', 260);
        bad(longline, 1, "invalid field");
        /* a topic list without a single topic would admit no partition at all, so every
         * lag of the rule would silently read 0 (and scale the workload down): refused */
        bad("default pods * g ,\n", 1, NULL);
        bad("default pods * g\ndefault deployments.apps d g ,,,\n", 2, NULL);
        /* non-ASCII bytes are not isgraph in the C locale */
        bad("default pods * gr\xc3\xa9up\n", 1, "invalid field");
}

static void test_empty_and_comment_only(void)
{
        char err[256] = "";
        kos_mapping_t *m = kos_mapping_parse("", "empty", err, sizeof(err));
        CHECK(m != NULL);
        CHECK_INT(m ? m->n_rules : 99, 0);
        CHECK(kos_mapping_find(m, "default", "pods", "x") == NULL);
        kos_mapping_destroy(m);
        m = kos_mapping_parse("# only a comment\n\n  # another\n\t\n", "c", err, sizeof(err));
        CHECK(m != NULL);
        CHECK_INT(m ? m->n_rules : 99, 0);
        kos_mapping_destroy(m);
        kos_mapping_destroy(NULL);
}

/* Writes len bytes to a temporary file and returns its path (static buffer). */
static const char *tmpfile_with(const void *data, size_t len)
{
        static char path[64];
        snprintf(path, sizeof(path), "/tmp/kos-test-mapping-XXXXXX");
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        if (fd < 0)
                return "/nonexistent";
        CHECK_INT(write(fd, data, len), (long long)len);
        close(fd);
        return path;
}

static void test_load(void)
{
        char err[256] = "";
        kos_mapping_t *m = kos_mapping_load("/nonexistent/kos/mapping.txt", err, sizeof(err));
        CHECK(m == NULL);
        CHECK(strstr(err, "/nonexistent/kos/mapping.txt") != NULL);

        /* a good file */
        const char *p = tmpfile_with(doc, strlen(doc));
        err[0] = '\0';
        m = kos_mapping_load(p, err, sizeof(err));
        CHECK(m != NULL);
        CHECK_INT(m ? m->n_rules : 0, 6);
        kos_mapping_destroy(m);
        unlink(p);

        /* a NUL byte would hide the rest of the file from the parser: refused */
        static const char with_nul[] = "default pods * g\n\0default deployments.apps d g\n";
        p = tmpfile_with(with_nul, sizeof(with_nul) - 1);
        err[0] = '\0';
        m = kos_mapping_load(p, err, sizeof(err));
        CHECK(m == NULL);
        CHECK(strstr(err, p) != NULL);
        CHECK(strstr(err, "NUL") != NULL);
        kos_mapping_destroy(m);
        unlink(p);

        /* an empty file: 0 rules, not an error */
        p = tmpfile_with("", 0);
        err[0] = '\0';
        m = kos_mapping_load(p, err, sizeof(err));
        CHECK(m != NULL);
        CHECK_INT(m ? m->n_rules : 99, 0);
        kos_mapping_destroy(m);
        unlink(p);

        /* a parse error in a file names the path and the line */
        static const char badfile[] = "# rules\ndefault pods * g\ndefault pods\n";
        p = tmpfile_with(badfile, sizeof(badfile) - 1);
        char want[128];
        snprintf(want, sizeof(want), "%s:3:", p);
        err[0] = '\0';
        m = kos_mapping_load(p, err, sizeof(err));
        CHECK(m == NULL);
        CHECK(strstr(err, want) != NULL);
        unlink(p);

        /* a file larger than one chunk (4 KiB) keeps every rule */
        size_t cap = 64 * 1024, len = 0;
        char *big = malloc(cap);
        for (int i = 0; i < 1000; i++)
                len += (size_t)snprintf(big + len, cap - len, "ns%d deployments.apps d%d g%d\n", i,
                                        i, i);
        p = tmpfile_with(big, len);
        m = kos_mapping_load(p, err, sizeof(err));
        CHECK(m != NULL);
        CHECK_INT(m ? m->n_rules : 0, 1000);
        const kos_mapping_rule_t *r = kos_mapping_find(m, "ns999", "deployments.apps", "d999");
        CHECK_STR(r ? r->group : NULL, "g999");
        kos_mapping_destroy(m);
        unlink(p);
        free(big);
}

int main(void)
{
        test_parse_documented_format();
        test_find_first_match();
        test_has_topic();
        test_bad_inputs();
        test_empty_and_comment_only();
        test_load();
        return check_result("mapping");
}
