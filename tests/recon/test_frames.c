/* Frames: window syntax (seconds, m:ss), several frames, dynamic schemes, exclusion, and every error
 * naming its item. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "recon/frames.h"

static void times(void **state)
{
    (void)state;
    lf_error err = {{0}};
    double t;
    assert_int_equal(lf_time_parse("90", "t", &t, &err), 0);
    assert_true(t == 90);
    assert_int_equal(lf_time_parse("10:00", "t", &t, &err), 0);
    assert_true(t == 600);
    assert_int_equal(lf_time_parse("1:30.5", "t", &t, &err), 0);
    assert_true(t == 90.5);
    assert_int_equal(lf_time_parse("1:75", "--frames item 2", &t, &err), -1);
    assert_non_null(strstr(err.msg, "--frames item 2"));
    assert_int_equal(lf_time_parse("abc", "t", &t, &err), -1);
    assert_int_equal(lf_time_parse("-5", "t", &t, &err), -1);
    assert_int_equal(lf_time_parse("1:2:3", "t", &t, &err), -1);
}

static void windows_and_frames(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_frames fr;
    assert_int_equal(lf_frames_parse("10:00-20:00", NULL, 1200, &fr, &err), 0);
    assert_int_equal(fr.n, 1);
    assert_true(fr.f[0].w[0].t0_s == 600 && fr.f[0].w[0].t1_s == 1200 && fr.f[0].kept_s == 600);
    assert_true(lf_frame_contains(&fr.f[0], 600.0) && !lf_frame_contains(&fr.f[0], 599.999) &&
                !lf_frame_contains(&fr.f[0], 1200.0));
    lf_frames_free(&fr);

    assert_int_equal(lf_frames_parse("0-300,300-600,600-1200", NULL, 1200, &fr, &err), 0);
    assert_int_equal(fr.n, 3);
    assert_true(fr.f[2].start_s == 600 && fr.f[2].end_s == 1200);
    lf_frames_free(&fr);

    /* whole acquisition by default; unknown duration refused */
    assert_int_equal(lf_frames_parse(NULL, NULL, 1200, &fr, &err), 0);
    assert_true(fr.n == 1 && fr.f[0].kept_s == 1200);
    lf_frames_free(&fr);
    assert_int_equal(lf_frames_parse("", NULL, -1, &fr, &err), -1);
    assert_non_null(strstr(err.msg, "duration"));
}

static void dynamic_scheme(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_frames fr;
    assert_int_equal(lf_frames_parse("12x10,6x30,5x120", NULL, 1200, &fr, &err), 0);
    assert_int_equal(fr.n, 23);
    assert_true(fr.f[0].start_s == 0 && fr.f[0].end_s == 10);
    assert_true(fr.f[12].start_s == 120 && fr.f[12].end_s == 150);
    assert_true(fr.f[22].start_s == 300 + 4 * 120 && fr.f[22].end_s == 900);
    lf_frames_free(&fr);
    assert_int_equal(lf_frames_parse("0x10", NULL, 1200, &fr, &err), -1);
    assert_non_null(strstr(err.msg, "item 1"));
    assert_int_equal(lf_frames_parse("10x200", NULL, 1200, &fr, &err), -1); /* beyond the data */
    assert_non_null(strstr(err.msg, "after the end of the data"));
}

static void exclusion(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_frames fr;
    assert_int_equal(lf_frames_parse("0-1200", "540-600,900-930", 1200, &fr, &err), 0);
    assert_int_equal(fr.n, 1);
    assert_int_equal(fr.f[0].n_w, 3);
    assert_true(fr.f[0].w[0].t1_s == 540 && fr.f[0].w[1].t0_s == 600 && fr.f[0].w[1].t1_s == 900 &&
                fr.f[0].w[2].t0_s == 930);
    assert_true(fr.f[0].kept_s == 1200 - 60 - 30);
    assert_false(lf_frame_contains(&fr.f[0], 550));
    assert_true(lf_frame_contains(&fr.f[0], 620));
    char d[128];
    lf_frame_describe(&fr.f[0], d, sizeof d);
    assert_string_equal(d, "0-540, 600-900, 930-1200 s");
    lf_frames_free(&fr);
    /* a frame left empty names itself */
    assert_int_equal(lf_frames_parse("0-300,300-600", "250-700", 1200, &fr, &err), -1);
    assert_non_null(strstr(err.msg, "frame 2"));
}

static void errors_name_the_item(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_frames fr;
    assert_int_equal(lf_frames_parse("600-300", NULL, 1200, &fr, &err), -1); /* reversed */
    assert_non_null(strstr(err.msg, "item 1"));
    assert_non_null(strstr(err.msg, "600-300"));
    assert_int_equal(lf_frames_parse("0-300,600-1300", NULL, 1200, &fr, &err), -1); /* beyond the data */
    assert_non_null(strstr(err.msg, "item 2"));
    assert_int_equal(lf_frames_parse("0-300,,600-900", NULL, 1200, &fr, &err), -1);
    assert_non_null(strstr(err.msg, "empty item"));
    assert_int_equal(lf_frames_parse("0-1200", "30", 1200, &fr, &err), -1);
    assert_non_null(strstr(err.msg, "--exclude item 1"));
    assert_int_equal(lf_frames_parse("abc", NULL, 1200, &fr, &err), -1);
    /* within the 1 s slack of the data's end: accepted */
    assert_int_equal(lf_frames_parse("0-1200.5", NULL, 1200, &fr, &err), 0);
    lf_frames_free(&fr);
}

static void gating(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_frames fr;
    /* triggers every 4 s from 1 s, one missed (17 -> 25: an 8 s cycle is left out), minutes 10-50 kept */
    const double trig[] = {1, 5, 9, 13, 17, 25, 29, 33, 37, 41, 45, 49, 53};
    assert_int_equal(lf_frames_parse("10-50", NULL, 60, &fr, &err), 0);
    int cycles = 0;
    assert_int_equal(lf_frames_gate(&fr, trig, 13, 4, &cycles, &err), 0);
    assert_int_equal(fr.n, 4);
    assert_int_equal(cycles, 11);
    for (int g = 0; g < 4; g++) {
        assert_int_equal(fr.f[g].gate, g + 1);
        /* gate 1 of the cycle 9-13 is [9, 10): cut to [10, 10) -> absent; cycles 13-17, 25-29, ... 45-49 whole */
        print_message("gate %d: %d windows, %.3f s kept\n", g + 1, fr.f[g].n_w, fr.f[g].kept_s);
    }
    /* phase 2 of the cycle 13-17 is [14, 15) */
    assert_true(lf_frame_contains(&fr.f[1], 14.5) && !lf_frame_contains(&fr.f[1], 13.5) &&
                !lf_frame_contains(&fr.f[1], 15.0));
    /* the irregular cycle 17-25 is in no gate */
    for (int g = 0; g < 4; g++)
        assert_false(lf_frame_contains(&fr.f[g], 20.0));
    /* kept time: cycles 9-13 (from 10), 13-17, the six from 25-29 to 45-49, and 49-53 up to 50: 3 + 4 + 24 + 1 = 32 s */
    double tot = 0;
    for (int g = 0; g < 4; g++)
        tot += fr.f[g].kept_s;
    assert_true(fabs(tot - 32.0) < 1e-9);
    lf_frames_free(&fr);

    int type, n;
    assert_int_equal(lf_gate_parse("resp:4", &type, &n, &err), 0);
    assert_true(type == 1 && n == 4);
    assert_int_equal(lf_gate_parse("cardiac:8", &type, &n, &err), 0);
    assert_true(type == 2 && n == 8);
    assert_int_equal(lf_gate_parse("resp", &type, &n, &err), -1);
    assert_int_equal(lf_gate_parse("breath:4", &type, &n, &err), -1);
    assert_int_equal(lf_frames_parse("0-60", NULL, 60, &fr, &err), 0);
    assert_int_equal(lf_frames_gate(&fr, trig, 2, 4, NULL, &err), -1); /* too few triggers */
    assert_non_null(strstr(err.msg, "trigger"));
    lf_frames_free(&fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times),          cmocka_unit_test(windows_and_frames), cmocka_unit_test(dynamic_scheme),
        cmocka_unit_test(exclusion),      cmocka_unit_test(errors_name_the_item), cmocka_unit_test(gating),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
