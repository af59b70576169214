/* datagen/rate: rate words, the token bucket and the --profile schedule, with time injected
 * (nothing here sleeps). */
#include "check.h"
#include "rate.h"

#include <math.h>
#include <string.h>

#define MS 1000000LL
#define S  1000000000LL

static void test_rate_parse(void)
{
        double r;
        char err[256];
        CHECK_INT(kos_rate_parse("--rate", "5000", 1, &r, err, sizeof(err)), 0);
        CHECK(r == 5000);
        CHECK_INT(kos_rate_parse("--rate", "2.5k", 1, &r, err, sizeof(err)), 0);
        CHECK(r == 2500);
        CHECK_INT(kos_rate_parse("--rate", "0.5", 1, &r, err, sizeof(err)), 0);
        CHECK(r == 0.5);
        CHECK_INT(kos_rate_parse("--rate", "0", 1, &r, err, sizeof(err)), 0);
        CHECK(isinf(r));
        CHECK_INT(kos_rate_parse("--profile", "0", 0, &r, err, sizeof(err)), 0);
        CHECK(r == 0);
        CHECK_INT(kos_rate_parse("--rate", "max", 1, &r, err, sizeof(err)), 0);
        CHECK(isinf(r));
        CHECK_INT(kos_rate_parse("--rate", "pause", 1, &r, err, sizeof(err)), 0);
        CHECK(r == 0);
        static const char *bad[] = {"",    "-1",        "abc",  "1e5", "inf", "nan", "5x",
                                    "1e9", "200000000", "0x10", "5 ",  "k",   " 5",  "1.2.3"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                CHECK_INT(kos_rate_parse("--rate", bad[i], 1, &r, err, sizeof(err)), -1);
                CHECK(strncmp(err, "--rate: ", 8) == 0);
        }
        char buf[32];
        kos_rate_format(KOS_RATE_MAX, buf, sizeof(buf));
        CHECK_STR(buf, "max");
        kos_rate_format(2500, buf, sizeof(buf));
        CHECK_STR(buf, "2500");
        kos_rate_format(0, buf, sizeof(buf));
        CHECK_STR(buf, "0");
}

/* Takes at irregular intervals, as a loop woken by a poll timeout would. */
static uint64_t drive(kos_bucket_t *b, int64_t *t, int64_t until, int64_t step)
{
        uint64_t n = 0;
        int k = 0;
        while (*t < until) {
                n += kos_bucket_take(b, *t, 1000000);
                *t += step + (k++ % 3) * step / 2; /* jitter: step, 1.5 step, 2 step */
        }
        return n;
}

static void test_bucket(void)
{
        kos_bucket_t b;
        int64_t t = 0;
        kos_bucket_init(&b, 1000, t);
        CHECK_INT(kos_bucket_take(&b, 0, 10), 1); /* the first frame goes out at once */
        CHECK_INT(kos_bucket_take(&b, 500000, 10), 0);
        CHECK_INT(kos_bucket_wait_ns(&b, 500000), 500000);
        CHECK_INT(kos_bucket_take(&b, 1 * MS, 10), 1);
        CHECK_INT(kos_bucket_wait_ns(&b, 1 * MS), 1 * MS);

        /* 10 s at 1000/s, taken at ~1.3 ms intervals: 10000 frames, give or take one. */
        kos_bucket_init(&b, 1000, 0);
        t = 0;
        uint64_t n = drive(&b, &t, 10 * S, 1300000);
        CHECK(n >= 9999 && n <= 10001);

        /* 5000/s for 10 s with 1 ms wakeups: within 0.1 %. */
        kos_bucket_init(&b, 5000, 0);
        t = 0;
        n = drive(&b, &t, 10 * S, 1 * MS);
        CHECK(n >= 49950 && n <= 50050);

        /* The batch limit caps one take; the rest stays for the next. */
        kos_bucket_init(&b, 100000, 0);
        kos_bucket_take(&b, 0, 10);
        CHECK_INT(kos_bucket_take(&b, 10 * MS, 300), 300);
        CHECK_INT(kos_bucket_take(&b, 10 * MS, 3000), 700);

        /* A stall longer than the burst window loses tokens (honest rate, no catch-up storm). */
        kos_bucket_init(&b, 1000, 0);
        kos_bucket_take(&b, 0, 10);
        CHECK_INT(kos_bucket_take(&b, 5 * S, 1000000), (uint64_t)(1000 * KOS_BUCKET_BURST));

        /* Rate change: 1 s at 1000/s then 1 s at 5000/s. */
        kos_bucket_init(&b, 1000, 0);
        t = 0;
        n = drive(&b, &t, 1 * S, 1 * MS);
        kos_bucket_set_rate(&b, 5000, t);
        n += drive(&b, &t, 2 * S, 1 * MS);
        CHECK(n >= 5990 && n <= 6010);

        /* Max: every take gets the full batch; leaving max starts metering from zero. */
        kos_bucket_init(&b, KOS_RATE_MAX, 0);
        CHECK_INT(kos_bucket_take(&b, 0, 1000), 1000);
        CHECK_INT(kos_bucket_take(&b, 0, 7), 7);
        CHECK_INT(kos_bucket_wait_ns(&b, 0), 0);
        kos_bucket_set_rate(&b, 100, 1 * S);
        CHECK_INT(kos_bucket_take(&b, 1 * S, 1000), 0);
        CHECK_INT(kos_bucket_take(&b, 1 * S + 10 * MS, 1000), 1);

        /* Paused: nothing, and no wakeup needed; resuming meters from then on. */
        kos_bucket_init(&b, 0, 0);
        CHECK_INT(kos_bucket_take(&b, 0, 10), 0);
        CHECK_INT(kos_bucket_take(&b, 100 * S, 10), 0);
        CHECK(kos_bucket_wait_ns(&b, 100 * S) == INT64_MAX);
        kos_bucket_set_rate(&b, 100, 100 * S);
        t = 100 * S;
        n = drive(&b, &t, 101 * S, 1 * MS);
        CHECK(n >= 99 && n <= 101);

        /* Fractional rates accumulate: 0.5/s for 10 s is 5 more after the first. */
        kos_bucket_init(&b, 0.5, 0);
        t = 0;
        n = drive(&b, &t, 10 * S + 1, 10 * MS);
        CHECK(n >= 5 && n <= 6);
        /* Time going backwards is ignored. */
        kos_bucket_init(&b, 1000, 5 * S);
        kos_bucket_take(&b, 5 * S, 10);
        CHECK_INT(kos_bucket_take(&b, 4 * S, 10), 0);
}

static void test_profile_parse(void)
{
        kos_profile_t p;
        char err[256];
        CHECK_INT(
            kos_profile_parse("1000@60s,ramp:50000@120s,hold@60s,0@10s", &p, err, sizeof(err)), 0);
        CHECK_INT(p.n, 4);
        CHECK_INT(p.total_ms, 250000);
        CHECK_INT(p.tail, KOS_PROFILE_END);
        CHECK_INT(p.segs[1].kind, KOS_SEG_RAMP);
        CHECK(p.segs[1].from == 1000 && p.segs[1].to == 50000);
        CHECK(p.segs[2].from == 50000 && p.segs[2].to == 50000);
        CHECK_INT(p.segs[3].start_ms, 240000);

        double r;
        CHECK_INT(kos_profile_rate(&p, 0, &r), 0);
        CHECK(r == 1000);
        CHECK_INT(kos_profile_rate(&p, 59999, &r), 0);
        CHECK(r == 1000);
        CHECK_INT(kos_profile_rate(&p, 60000, &r), 0);
        CHECK(r == 1000);
        CHECK_INT(kos_profile_rate(&p, 120000, &r), 0);
        CHECK(r == 25500);
        CHECK_INT(kos_profile_rate(&p, 180000, &r), 0);
        CHECK(r == 50000);
        CHECK_INT(kos_profile_rate(&p, 239999, &r), 0);
        CHECK(r == 50000);
        CHECK_INT(kos_profile_rate(&p, 240000, &r), 0);
        CHECK(r == 0);
        CHECK_INT(kos_profile_rate(&p, 250000, &r), 1);
        CHECK_INT(kos_profile_rate(&p, -5, &r), 0);
        CHECK(r == 1000);

        CHECK_INT(
            kos_profile_parse("ramp:1k@10s,max@5s,pause@1s,2k@500ms,loop", &p, err, sizeof(err)),
            0);
        CHECK_INT(p.tail, KOS_PROFILE_LOOP);
        CHECK_INT(kos_profile_rate(&p, 5000, &r), 0);
        CHECK(r == 500); /* the first ramp starts at 0 */
        CHECK_INT(kos_profile_rate(&p, 12000, &r), 0);
        CHECK(isinf(r));
        CHECK_INT(kos_profile_rate(&p, 15500, &r), 0);
        CHECK(r == 0);
        CHECK_INT(kos_profile_rate(&p, 16200, &r), 0);
        CHECK(r == 2000);
        CHECK_INT(kos_profile_rate(&p, 16500 + 5000, &r), 0); /* second lap */
        CHECK(r == 500);

        CHECK_INT(kos_profile_parse("100@1s,200@1m,hold", &p, err, sizeof(err)), 0);
        CHECK_INT(p.tail, KOS_PROFILE_HOLD);
        CHECK_INT(kos_profile_rate(&p, 3600000, &r), 0);
        CHECK(r == 200);

        static const char *bad[] = {
            "",
            "1000",
            "1000@",
            "1000@0s",
            "ramp:max@1s",
            "max@1s,ramp:10@1s",
            "abc@1s",
            "1000@1x",
            "-5@1s",
            "loop",
            "loop,100@1s",
            "100@1s,loop,200@1s",
            "100@1s,hold,loop",
            "hold",
            ",,,",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                CHECK_INT(kos_profile_parse(bad[i], &p, err, sizeof(err)), -1);
                CHECK(strncmp(err, "--profile: ", 11) == 0);
                if (strncmp(err, "--profile: ", 11) != 0)
                        fprintf(stderr, "  %s -> %s\n", bad[i], err);
        }
        char many[2048] = "";
        for (int i = 0; i < KOS_PROFILE_MAX_SEGS + 1; i++)
                strcat(many, i ? ",1@1s" : "1@1s");
        CHECK_INT(kos_profile_parse(many, &p, err, sizeof(err)), -1);
        CHECK(strstr(err, "segments") != NULL);
}

/* The loop's arithmetic end to end: profile -> bucket at 1 ms ticks over the demo schedule.
 * Frames per segment equal the integral of the rate. */
static void test_profile_with_bucket(void)
{
        kos_profile_t p;
        char err[256];
        CHECK_INT(
            kos_profile_parse("1000@60s,ramp:50000@120s,hold@60s,0@10s", &p, err, sizeof(err)), 0);
        kos_bucket_t b;
        double r;
        kos_profile_rate(&p, 0, &r);
        kos_bucket_init(&b, r, 0);
        uint64_t seg[4] = {0};
        int64_t t;
        for (t = 0;; t += 1 * MS) {
                if (kos_profile_rate(&p, t / MS, &r))
                        break;
                kos_bucket_set_rate(&b, r, t);
                uint64_t n = kos_bucket_take(&b, t, 1000000);
                int s = t < 60 * S ? 0 : t < 180 * S ? 1 : t < 240 * S ? 2 : 3;
                seg[s] += n;
        }
        CHECK_INT(t, 250 * S);
        CHECK(fabs((double)seg[0] - 60000) <= 2);
        CHECK(fabs((double)seg[1] - 3060000) <= 3060000 * 0.001);
        CHECK(fabs((double)seg[2] - 3000000) <= 3000000 * 0.001);
        CHECK(seg[3] <= 1);
}

int main(void)
{
        test_rate_parse();
        test_bucket();
        test_profile_parse();
        test_profile_with_bucket();
        return check_result("test_rate");
}
