/* Unit tests for adapter/status.c: Burrow's partition rules one by one, their order of
 * precedence, the group fold, and windows an adversary could produce (offsets going
 * backwards, huge jumps, negative lag, one entry, equal times). */
#include "status.h"

#include <stdint.h>

#include "check.h"

/* n commits 1 s apart starting at t = 1000 ms */
static void window(kos_commit_t *w, size_t n, const int64_t *offsets, const int64_t *lags)
{
        for (size_t i = 0; i < n; i++)
                w[i] = (kos_commit_t){offsets[i], lags[i], 1000 + (int64_t)i * 1000, 0};
}

static void test_rule1_zero_lag_is_ok(void)
{
        kos_commit_t w[4];
        /* a rewind and no movement, but the lag was 0 once: OK */
        window(w, 4, (int64_t[]){10, 5, 5, 5}, (int64_t[]){3, 0, 3, 3});
        CHECK_INT(kos_status_partition(w, 4, 3, 4000), KOS_STATUS_OK);
        /* current lag 0: OK whatever the window says */
        window(w, 4, (int64_t[]){10, 5, 5, 5}, (int64_t[]){3, 3, 3, 3});
        CHECK_INT(kos_status_partition(w, 4, 0, 99000), KOS_STATUS_OK);
        /* a negative current lag (never computed so, but) is no lag */
        CHECK_INT(kos_status_partition(w, 4, -5, 99000), KOS_STATUS_OK);
        /* no window: nothing to judge */
        CHECK_INT(kos_status_partition(w, 0, 100, 99000), KOS_STATUS_OK);
}

static void test_rule2_rewind_first(void)
{
        kos_commit_t w[4];
        window(w, 4, (int64_t[]){10, 20, 15, 30}, (int64_t[]){5, 5, 5, 5});
        CHECK_INT(kos_status_partition(w, 4, 5, 4000), KOS_STATUS_REWIND);
        /* rewind beats stop: the commits are also old */
        CHECK_INT(kos_status_partition(w, 4, 5, 1000000), KOS_STATUS_REWIND);
        /* a huge jump forward and back (an offset near INT64_MAX from a rogue commit) */
        window(w, 4, (int64_t[]){10, INT64_MAX, 11, 12}, (int64_t[]){5, 1, 5, 5});
        CHECK_INT(kos_status_partition(w, 4, 5, 4000), KOS_STATUS_REWIND);
}

static void test_rule3_stop(void)
{
        kos_commit_t w[4];
        window(w, 4, (int64_t[]){10, 20, 30, 40}, (int64_t[]){50, 40, 30, 20});
        /* span 3000 ms: 3000 ms after the last commit is not yet a stop, 3001 is */
        CHECK_INT(kos_status_partition(w, 4, 20, 4000 + 3000), KOS_STATUS_OK);
        CHECK_INT(kos_status_partition(w, 4, 20, 4000 + 3001), KOS_STATUS_STOP);
        /* one commit spans nothing: any age is a stop, as in Burrow */
        CHECK_INT(kos_status_partition(w, 1, 20, 1001), KOS_STATUS_STOP);
        /* stop beats stall */
        window(w, 4, (int64_t[]){7, 7, 7, 7}, (int64_t[]){5, 6, 7, 8});
        CHECK_INT(kos_status_partition(w, 4, 8, 100000), KOS_STATUS_STOP);
        /* a clock before the last commit (cannot happen on the monotonic clock): no stop */
        CHECK_INT(kos_status_partition(w, 4, 8, 0), KOS_STATUS_STALL);
}

static void test_rule4_stall(void)
{
        kos_commit_t w[4];
        window(w, 4, (int64_t[]){7, 7, 7, 7}, (int64_t[]){5, 4, 9, 8});
        CHECK_INT(kos_status_partition(w, 4, 8, 4000), KOS_STATUS_STALL);
        /* one entry at the evaluation time: all (one) offsets equal */
        CHECK_INT(kos_status_partition(w, 1, 8, 1000), KOS_STATUS_STALL);
        /* moved once: not a stall; lag 5,4,... decreased once: OK */
        window(w, 4, (int64_t[]){7, 7, 8, 8}, (int64_t[]){5, 4, 9, 8});
        CHECK_INT(kos_status_partition(w, 4, 8, 4000), KOS_STATUS_OK);
}

static void test_rule5_warn(void)
{
        kos_commit_t w[5];
        window(w, 5, (int64_t[]){10, 20, 30, 40, 50}, (int64_t[]){5, 6, 6, 8, 9});
        CHECK_INT(kos_status_partition(w, 5, 9, 5000), KOS_STATUS_WARN);
        /* one decrease anywhere: OK */
        window(w, 5, (int64_t[]){10, 20, 30, 40, 50}, (int64_t[]){5, 6, 4, 8, 9});
        CHECK_INT(kos_status_partition(w, 5, 9, 5000), KOS_STATUS_OK);
        /* equal lags throughout never decrease: WARN */
        window(w, 5, (int64_t[]){10, 20, 30, 40, 50}, (int64_t[]){5, 5, 5, 5, 5});
        CHECK_INT(kos_status_partition(w, 5, 5, 5000), KOS_STATUS_WARN);
}

static void test_fold_and_names(void)
{
        kos_status_t g = KOS_STATUS_OK;
        g = kos_status_fold(g, KOS_STATUS_NOTFOUND);
        CHECK_INT(g, KOS_STATUS_OK);
        g = kos_status_fold(g, KOS_STATUS_WARN);
        CHECK_INT(g, KOS_STATUS_WARN);
        g = kos_status_fold(g, KOS_STATUS_OK);
        CHECK_INT(g, KOS_STATUS_WARN);
        CHECK_INT(kos_status_fold(g, KOS_STATUS_STOP), KOS_STATUS_ERR);
        CHECK_INT(kos_status_fold(g, KOS_STATUS_STALL), KOS_STATUS_ERR);
        CHECK_INT(kos_status_fold(g, KOS_STATUS_REWIND), KOS_STATUS_ERR);
        CHECK_INT(kos_status_fold(KOS_STATUS_ERR, KOS_STATUS_WARN), KOS_STATUS_ERR);
        CHECK_STR(kos_status_name(KOS_STATUS_OK), "OK");
        CHECK_STR(kos_status_name(KOS_STATUS_WARN), "WARN");
        CHECK_STR(kos_status_name(KOS_STATUS_ERR), "ERR");
        CHECK_STR(kos_status_name(KOS_STATUS_STOP), "STOP");
        CHECK_STR(kos_status_name(KOS_STATUS_STALL), "STALL");
        CHECK_STR(kos_status_name(KOS_STATUS_REWIND), "REWIND");
        CHECK_STR(kos_status_name((kos_status_t)42), "NOTFOUND");
        /* the codes are Burrow's StatusConstant values (served as the metric) */
        CHECK_INT(KOS_STATUS_OK, 1);
        CHECK_INT(KOS_STATUS_WARN, 2);
        CHECK_INT(KOS_STATUS_ERR, 3);
        CHECK_INT(KOS_STATUS_STOP, 4);
        CHECK_INT(KOS_STATUS_STALL, 5);
        CHECK_INT(KOS_STATUS_REWIND, 6);
}

int main(void)
{
        test_rule1_zero_lag_is_ok();
        test_rule2_rewind_first();
        test_rule3_stop();
        test_rule4_stall();
        test_rule5_warn();
        test_fold_and_names();
        return check_result("test_status");
}
