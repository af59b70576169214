/* The merge decision of a task (processor/merge.c, why in task.h): timestamp order while both
 * inputs have records; an empty input that is not known caught up is waited for however long
 * it takes; one that is caught up lets the other go ahead at once (--max-task-idle 0) or after
 * the idle time has passed while it stayed caught up. */
#include "check.h"
#include "merge.h"

static kos_merge_input_t in[2];

static void set(int side, int queued, int64_t ts, int caught_up)
{
        in[side].queued = queued;
        in[side].ts = ts;
        in[side].caught_up = caught_up;
}

static void both_queued_go_in_timestamp_order(void)
{
        kos_merge_t m = {0};
        int ahead = -1;
        set(0, 1, 200, 0);
        set(1, 1, 100, 0);
        CHECK_INT(kos_merge_next(&m, in, 0, 1000, &ahead), 1);
        CHECK_INT(ahead, 0);
        set(1, 1, 300, 0);
        CHECK_INT(kos_merge_next(&m, in, 0, 1000, &ahead), 0);
        set(1, 1, 200, 0); /* a tie: the request first */
        CHECK_INT(kos_merge_next(&m, in, 0, 1000, &ahead), 0);
        set(0, 0, 0, 1);
        set(1, 0, 0, 1);
        CHECK_INT(kos_merge_next(&m, in, 0, 1000, &ahead), KOS_MERGE_NOTHING);
}

static void lagging_input_is_waited_for_however_long(void)
{
        kos_merge_t m = {0};
        int ahead = -1;
        set(0, 1, 100, 0);
        set(1, 0, 0, 0); /* empty, the broker has more (or nothing is known yet) */
        CHECK_INT(kos_merge_next(&m, in, 0, 1000, &ahead), KOS_MERGE_WAIT);
        CHECK_INT(m.waiting_since, 1000);
        CHECK_INT(kos_merge_next(&m, in, 0, 1000 + 3600000, &ahead), KOS_MERGE_WAIT);
        CHECK_INT(kos_merge_next(&m, in, 500, 1000 + 3600000, &ahead), KOS_MERGE_WAIT);
        CHECK_INT(m.waiting_since, 1000); /* the wait is measured from its start */
        CHECK_INT(ahead, 0);
        /* Its records arrive: order resumes, the wait is over. */
        set(1, 1, 50, 0);
        CHECK_INT(kos_merge_next(&m, in, 0, 1000 + 3600001, &ahead), 1);
        CHECK_INT(m.waiting_since, 0);
        /* The same with the sides swapped. */
        set(0, 0, 0, 0);
        CHECK_INT(kos_merge_next(&m, in, 0, 5000, &ahead), KOS_MERGE_WAIT);
        set(0, 0, 0, 1); /* caught up now: the responses go */
        CHECK_INT(kos_merge_next(&m, in, 0, 5001, &ahead), 1);
        CHECK_INT(ahead, 1);
        CHECK_INT(m.waiting_since, 0);
}

static void caught_up_input_goes_ahead_at_once_without_idle_time(void)
{
        kos_merge_t m = {0};
        int ahead = 0;
        set(0, 0, 0, 1);
        set(1, 1, 100, 0);
        CHECK_INT(kos_merge_next(&m, in, 0, 1000, &ahead), 1);
        CHECK_INT(ahead, 1);
}

static void idle_time_counts_only_while_caught_up(void)
{
        kos_merge_t m = {0};
        int ahead = -1;
        set(0, 1, 100, 0);
        set(1, 0, 0, 1);
        CHECK_INT(kos_merge_next(&m, in, 500, 1000, &ahead), KOS_MERGE_IDLE);
        CHECK_INT(kos_merge_next(&m, in, 500, 1499, &ahead), KOS_MERGE_IDLE);
        CHECK_INT(ahead, 0);
        /* Not caught up any more (a fetch response showed more): the idle time starts over. */
        set(1, 0, 0, 0);
        CHECK_INT(kos_merge_next(&m, in, 500, 1499, &ahead), KOS_MERGE_WAIT);
        CHECK_INT(m.idle_since, 0);
        set(1, 0, 0, 1);
        CHECK_INT(kos_merge_next(&m, in, 500, 1600, &ahead), KOS_MERGE_IDLE);
        CHECK_INT(kos_merge_next(&m, in, 500, 2099, &ahead), KOS_MERGE_IDLE);
        CHECK_INT(kos_merge_next(&m, in, 500, 2100, &ahead), 0);
        CHECK_INT(ahead, 1);
        /* Still empty and caught up: the requests keep going without a new wait. */
        set(0, 1, 101, 0);
        CHECK_INT(kos_merge_next(&m, in, 500, 2101, &ahead), 0);
        /* Records on both again: order, and the next empty spell waits its idle time anew. */
        set(1, 1, 102, 0);
        CHECK_INT(kos_merge_next(&m, in, 500, 2102, &ahead), 0);
        CHECK_INT(m.idle_since, 0);
        set(1, 0, 0, 1);
        CHECK_INT(kos_merge_next(&m, in, 500, 2103, &ahead), KOS_MERGE_IDLE);
}

int main(void)
{
        both_queued_go_in_timestamp_order();
        lagging_input_is_waited_for_however_long();
        caught_up_input_goes_ahead_at_once_without_idle_time();
        idle_time_counts_only_while_caught_up();
        return check_result("test_merge");
}
