/* Unit tests for kos_delivery_parse_meta (processor/delivery.c): the stream time kos-processor
 * stores in its commit metadata, read back on assignment. Any member of the group can commit
 * any metadata, so everything but a plain timestamp is "absent". */
#include "delivery.h"

#include <stdint.h>
#include <string.h>

#include "check.h"

static int parse(const char *s, int64_t *st)
{
        return kos_delivery_parse_meta(s, s ? strlen(s) : 0, st);
}

int main(void)
{
        int64_t st = 42;
        CHECK_INT(parse("kos1 st=1700000000000", &st), 0);
        CHECK_INT(st, 1700000000000LL);
        CHECK_INT(parse("kos1 st=0", &st), 0);
        CHECK_INT(st, 0);
        st = 42;
        /* Foreign, malformed, trailing bytes, empty. */
        CHECK_INT(parse("kos2 st=5", &st), -1);
        CHECK_INT(parse("kos1 st=", &st), -1);
        CHECK_INT(parse("kos1 st=5x", &st), -1);
        CHECK_INT(parse("", &st), -1);
        CHECK_INT(parse(NULL, &st), -1);
        CHECK_INT(kos_delivery_parse_meta("kos1 st=5", 64, &st), -1); /* too long */
        /* What a rogue member commits to make st - 2*window - grace overflow. */
        CHECK_INT(parse("kos1 st=-9223372036854775807", &st), -1);
        CHECK_INT(parse("kos1 st=-1", &st), -1);
        CHECK_INT(parse("kos1 st=99999999999999999999999", &st), -1); /* clamped by sscanf */
        CHECK_INT(parse("kos1 st=9223372036854775807", &st), -1);
        CHECK_INT(st, 42);
        return check_result("commit_meta");
}
