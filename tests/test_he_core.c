/* The Happy Eyeballs v2 core (src/he.c) with virtual time: every RFC 8305
 * rule as an explicit case, no sockets, no loop, no clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "he.h"
#include "internal.h"

#define V4 AF_INET
#define V6 AF_INET6
#define RD 0.05
#define SD 0.25

static anysock__he h;

static void init(double delay, double deadline, int pref, int fafc)
{
    anysock__he_init(&h, 0., delay, RD, deadline, pref, true, fafc, NULL, 0);
}

static int teardown(void **state)
{
    (void)state;
    anysock__he_free(&h);
    return 0;
}

/* An answer of `count` addresses (count 0: a failed/empty one). Returns
 * the index of the first address added. */
static int answer(double now, int fam, size_t group, size_t ngroups,
                  int count)
{
    int first = -1;

    for (int i = 0; i < count; i++) {
        int k = anysock__he_add(&h, fam, group);

        assert_true(k >= 0);
        if (first < 0)
            first = k;
    }
    anysock__he_answer(&h, now, fam, group, ngroups, (size_t)count,
                       count > 0 ? 0 : -ENXIO);
    return first;
}

static anysock__he_action next(double now)
{
    anysock__he_action a;

    anysock__he_next(&h, now, &a);
    return a;
}

/* The next action must start an attempt: returns its entry. */
static size_t must_start(double now)
{
    anysock__he_action a = next(now);

    assert_int_equal(a.kind, ANYSOCK__HE_START);
    anysock__he_started(&h, a.entry, now, 0.);
    return a.entry;
}

/* The next action must be a wait until `at` (0: for an event). */
static void must_wait(double now, double at)
{
    anysock__he_action a = next(now);

    assert_int_equal(a.kind, ANYSOCK__HE_WAIT);
    if (at == 0.)
        assert_true(a.at == 0.);
    else
        assert_true(a.at > at - 1e-9 && a.at < at + 1e-9);
}

static int fam(size_t i)
{
    return h.e[i].family;
}

/* §3: the preferred family answered: connect at once. */
static void test_preferred_first_starts_at_once(void **state)
{
    (void)state;
    init(SD, 0., V6, 1);
    must_wait(0., 0.);
    answer(0.010, V6, 0, 1, 1);
    assert_int_equal(fam(must_start(0.010)), V6);
    /* the other family never answers: nothing waits for it */
    must_wait(0.010, 0.);
}

/* §3: the other family first, the preferred inside the Resolution Delay:
 * the preferred one is tried first. */
static void test_other_first_then_preferred_inside_delay(void **state)
{
    (void)state;
    init(SD, 0., V6, 1);
    answer(0.010, V4, 0, 1, 1);
    must_wait(0.010, 0.010 + RD);
    answer(0.030, V6, 0, 1, 1);
    assert_int_equal(fam(must_start(0.030)), V6);
    must_wait(0.030, 0.030 + SD);
    assert_int_equal(fam(must_start(0.030 + SD)), V4);
}

/* §3: outside the delay the other family starts; the preferred one
 * joins at the next stagger step. */
static void test_other_first_then_preferred_after_delay(void **state)
{
    (void)state;
    init(SD, 0., V6, 1);
    answer(0.010, V4, 0, 1, 2);
    must_wait(0.030, 0.060);
    assert_int_equal(fam(must_start(0.060)), V4);
    answer(0.100, V6, 0, 1, 1);
    must_wait(0.100, 0.060 + SD);
    /* merged by the ordering rules: before the second IPv4 address */
    assert_int_equal(fam(must_start(0.060 + SD)), V6);
    assert_int_equal(fam(must_start(0.060 + 2 * SD)), V4);
}

/* One family never answers: the other is used after the delay, in both
 * preference orders. */
static void test_one_family_never_answers(void **state)
{
    (void)state;
    init(SD, 0., V6, 1);
    answer(0., V4, 0, 1, 1);
    must_wait(0.049, RD);
    assert_int_equal(fam(must_start(RD)), V4);
    anysock__he_free(&h);

    init(SD, 0., V4, 1);
    answer(0., V4, 0, 1, 1);
    assert_int_equal(fam(must_start(0.)), V4);
}

/* A failed or empty answer for the preferred family never delays the
 * other one. */
static void test_preferred_failing_does_not_delay(void **state)
{
    (void)state;
    init(SD, 0., V6, 1);
    answer(0.005, V6, 0, 1, 0);
    answer(0.010, V4, 0, 1, 1);
    assert_int_equal(fam(must_start(0.010)), V4);

    anysock__he_free(&h);
    init(SD, 0., V6, 1);
    answer(0.005, V4, 0, 1, 1);
    must_wait(0.005, 0.005 + RD);
    answer(0.007, V6, 0, 1, 0);    /* fails inside the delay */
    assert_int_equal(fam(must_start(0.007)), V4);
}

/* Late answers join while attempts run: at once when the stagger has
 * passed and nothing else waits. */
static void test_late_answer_joins_at_once(void **state)
{
    (void)state;
    init(SD, 0., V4, 1);
    answer(0., V4, 0, 1, 1);
    assert_int_equal(fam(must_start(0.)), V4);
    must_wait(0.1, 0.);           /* nothing to start, nothing to time */
    answer(0.9, V6, 0, 1, 1);
    assert_int_equal(fam(must_start(0.9)), V6);
}

/* ... and at the next stagger step when it has not. */
static void test_late_answer_waits_for_stagger(void **state)
{
    (void)state;
    init(SD, 0., V4, 1);
    answer(0., V4, 0, 1, 1);
    must_start(0.);
    answer(0.1, V6, 0, 1, 1);
    must_wait(0.1, SD);
    assert_int_equal(fam(must_start(SD)), V6);
}

static void order_of(int *out, int n, double step)
{
    for (int i = 0; i < n; i++)
        out[i] = fam(must_start(step * i));
}

/* §4: First Address Family Count 1 and 2. */
static void test_first_address_family_count(void **state)
{
    int got[6];
    static const int want1[6] = { V6, V4, V6, V4, V6, V4 };
    static const int want2[6] = { V6, V6, V4, V6, V4, V4 };

    (void)state;
    init(SD, 0., V6, 1);
    answer(0., V6, 0, 1, 3);
    answer(0., V4, 0, 1, 3);
    order_of(got, 6, SD);
    assert_memory_equal(got, want1, sizeof got);
    anysock__he_free(&h);

    init(SD, 0., V6, 2);
    answer(0., V4, 0, 1, 3);
    answer(0., V6, 0, 1, 3);
    order_of(got, 6, SD);
    assert_memory_equal(got, want2, sizeof got);
}

/* SRV: targets in SRV order, families interleaved within each. */
static void test_srv_mixed_families(void **state)
{
    size_t i;

    (void)state;
    init(SD, 0., V4, 1);
    answer(0., V6, 1, 2, 2);     /* group 1 first, reordered below */
    answer(0., V4, 1, 2, 1);
    answer(0., V4, 0, 2, 2);
    answer(0., V6, 0, 2, 0);
    for (int k = 0; k < 5; k++) {
        static const int wg[5] = { 0, 0, 1, 1, 1 };
        static const int wf[5] = { V4, V4, V4, V6, V6 };

        i = must_start(SD * k);
        assert_int_equal(h.e[i].group, wg[k]);
        assert_int_equal(fam(i), wf[k]);
    }
}

/* The stagger, the per-attempt timeout and the deadline are separate:
 * a timeout starts the next attempt at once, the deadline ends all. */
static void test_stagger_timeout_deadline(void **state)
{
    anysock__he_action a;
    size_t i;

    (void)state;
    init(SD, 1.0, V4, 1);
    answer(0., V4, 0, 1, 3);
    i = must_start(0.);
    anysock__he_started(&h, i, 0., 0.1);
    must_wait(0., 0.1);
    a = next(0.1);
    assert_int_equal(a.kind, ANYSOCK__HE_EXPIRE);
    assert_int_equal(a.entry, i);
    assert_int_equal(a.phase, ANYSOCK_PHASE_PREPARE);
    assert_int_equal(a.status, -ETIMEDOUT);
    /* the failure starts the next one now, not at 0.25 */
    i = must_start(0.1);
    must_wait(0.1, 0.1 + SD);
    must_start(0.35);
    must_wait(0.35, 1.0);        /* nothing left but the deadline */
    for (int k = 0; k < 2; k++) {
        a = next(1.0);
        assert_int_equal(a.kind, ANYSOCK__HE_EXPIRE);
        assert_int_equal(a.phase, ANYSOCK_PHASE_DEADLINE);
    }
    a = next(1.0);
    assert_int_equal(a.kind, ANYSOCK__HE_FAIL);
    assert_int_equal(a.status, -ETIMEDOUT);
    must_wait(1.1, 0.);          /* over: nothing more */
}

/* The deadline also ends a call still waiting for any answer. */
static void test_deadline_while_resolving(void **state)
{
    anysock__he_action a;

    (void)state;
    init(SD, 2.0, V4, 1);
    must_wait(0., 2.0);
    a = next(2.0);
    assert_int_equal(a.kind, ANYSOCK__HE_FAIL);
    assert_int_equal(a.status, -ETIMEDOUT);
}

/* Cancel (he_stop) at every step of a race: afterwards no action at
 * all, and every running attempt is marked cancelled. */
static void test_cancel_at_every_step(void **state)
{
    (void)state;
    for (int stop_at = 0; stop_at < 8; stop_at++) {
        double t = 0.;
        int stepno = 0;

        init(SD, 0., V6, 1);
        for (; stepno < 8; stepno++) {
            if (stepno == stop_at)
                break;
            switch (stepno) {
            case 0: answer(t, V4, 0, 1, 2); break;
            case 1: t += RD; must_start(t); break;
            case 2: answer(t, V6, 0, 1, 1); break;
            case 3: t += SD; must_start(t); break;
            case 4: anysock__he_failed(&h, 0, t, -ECONNREFUSED,
                                       ANYSOCK_PHASE_CONNECT); break;
            case 5: must_start(t); break;
            case 6: anysock__he_done(&h, t, 0); break;
            default: t += 0.01; break;
            }
        }
        anysock__he_stop(&h, t, -ECANCELED, ANYSOCK_PHASE_CANCEL);
        assert_int_equal(h.nactive, 0);
        for (size_t i = 0; i < h.n; i++)
            if (h.e[i].order >= 0 && h.e[i].status == -ECANCELED)
                assert_int_equal(h.e[i].phase, ANYSOCK_PHASE_CANCEL);
        answer(t + 1., V6, 0, 1, 1);
        must_wait(t + 1., 0.);
        anysock__he_free(&h);
    }
}

/* Defect: the 64-attempt cap used to be applied before interleaving, so
 * 64+ A records hid the AAAA one. It is second now; the cap is per
 * family. */
static void test_cap_after_interleave(void **state)
{
    anysock__he_action a;
    size_t i;
    int tried = 1, v4 = 0, v6 = 0;

    (void)state;
    init(SD, 0., V4, 1);
    answer(0., V4, 0, 1, 64);
    answer(0., V4, 0, 1, 10);      /* 74 A records in all */
    answer(0., V6, 0, 1, 1);
    anysock__he_done(&h, 0., 0);
    i = must_start(0.);
    assert_int_equal(fam(i), V4);
    anysock__he_failed(&h, i, 0., -ECONNREFUSED, ANYSOCK_PHASE_CONNECT);
    i = must_start(0.);
    assert_int_equal(fam(i), V6);
    anysock__he_failed(&h, i, 0., -ECONNREFUSED, ANYSOCK_PHASE_CONNECT);
    tried++;
    for (;;) {
        a = next(0.);
        if (a.kind != ANYSOCK__HE_START)
            break;
        tried++;
        anysock__he_failed(&h, a.entry, 0., -ECONNREFUSED,
                           ANYSOCK_PHASE_CONNECT);
    }
    assert_int_equal(a.kind, ANYSOCK__HE_FAIL);
    assert_int_equal(a.status, -ECONNREFUSED);
    for (size_t k = 0; k < h.n; k++) {
        if (h.e[k].order < 0)
            continue;
        if (fam(k) == V4)
            v4++;
        else
            v6++;
    }
    /* the cap holds: 64 of the 74 A records, and the AAAA one */
    assert_int_equal(v4, ANYSOCK__HE_MAX_ATTEMPTS);
    assert_int_equal(v6, 1);
    assert_int_equal(tried, ANYSOCK__HE_MAX_ATTEMPTS + 1);
}

/* The same with the answers streaming: 64 A records all refused before
 * the AAAA answer arrives still leave the AAAA its turn. */
static void test_cap_leaves_late_family_its_turn(void **state)
{
    anysock__he_action a;

    (void)state;
    init(SD, 0., V4, 1);
    answer(0., V4, 0, 1, 64);
    for (int k = 0; k < 64; k++) {
        size_t i = must_start(0.001 * k);

        anysock__he_failed(&h, i, 0.001 * k, -ECONNREFUSED,
                           ANYSOCK_PHASE_CONNECT);
    }
    must_wait(0.1, 0.);            /* not done: AAAA may still come */
    answer(0.2, V6, 0, 1, 1);
    assert_int_equal(fam(must_start(0.2)), V6);
    anysock__he_failed(&h, 64, 0.2, -ECONNREFUSED, ANYSOCK_PHASE_CONNECT);
    anysock__he_done(&h, 0.2, 0);
    a = next(0.2);
    assert_int_equal(a.kind, ANYSOCK__HE_FAIL);
}

/* Defect: a socket() failure starts the next attempt at once. */
static void test_socket_failure_starts_next_at_once(void **state)
{
    size_t i;

    (void)state;
    init(SD, 0., V6, 1);
    answer(0., V6, 0, 1, 1);
    answer(0., V4, 0, 1, 1);
    i = must_start(0.);
    anysock__he_failed(&h, i, 0., -EAFNOSUPPORT, ANYSOCK_PHASE_SOCKET);
    assert_int_equal(fam(must_start(0.)), V4);
}

/* delay 0 (7.17's sequential mode): 7.17's order (preference, then SRV
 * index), one attempt at a time, no wait for an unanswered family. */
static void test_sequential_mode(void **state)
{
    anysock__he_action a;
    size_t i;

    (void)state;
    init(0., 0., V4, 1);
    answer(0., V6, 0, 1, 1);
    answer(0., V4, 1, 2, 1);
    answer(0., V4, 0, 2, 1);
    i = must_start(0.);
    assert_int_equal(fam(i), V4);
    assert_int_equal(h.e[i].group, 0);
    must_wait(10., 0.);            /* never a second one beside it */
    anysock__he_failed(&h, i, 10., -ECONNREFUSED, ANYSOCK_PHASE_CONNECT);
    i = must_start(10.);
    assert_int_equal(fam(i), V4);
    assert_int_equal(h.e[i].group, 1);
    anysock__he_failed(&h, i, 10., -ECONNREFUSED, ANYSOCK_PHASE_CONNECT);
    i = must_start(10.);
    assert_int_equal(fam(i), V6);
    anysock__he_failed(&h, i, 10., -ETIMEDOUT, ANYSOCK_PHASE_PREPARE);
    must_wait(10., 0.);            /* more may come */
    anysock__he_done(&h, 10., 0);
    a = next(10.);
    assert_int_equal(a.kind, ANYSOCK__HE_FAIL);
    assert_int_equal(a.status, -ETIMEDOUT);   /* the last attempt's */

    /* preferred family unanswered: the other starts after the delay */
    anysock__he_free(&h);
    init(0., 0., V6, 1);
    answer(0., V4, 0, 1, 1);
    must_wait(0., RD);
    assert_int_equal(fam(must_start(RD)), V4);
}

/* Nothing resolved: the resolution's status, not -ENXIO. */
static void test_resolution_status_is_reported(void **state)
{
    anysock__he_action a;

    (void)state;
    init(SD, 0., V4, 1);
    answer(0., V4, 0, 1, 0);
    answer(0., V6, 0, 1, 0);
    must_wait(0., 0.);
    anysock__he_done(&h, 0.1, ANYSOCK_ESERVFAIL);
    a = next(0.1);
    assert_int_equal(a.kind, ANYSOCK__HE_FAIL);
    assert_int_equal(a.status, ANYSOCK_ESERVFAIL);
}

/* A win cancels the others; a retry puts them back. */
static void test_win_then_retry(void **state)
{
    size_t a0, a1;

    (void)state;
    init(SD, 0., V4, 1);
    answer(0., V4, 0, 1, 2);
    anysock__he_done(&h, 0., 0);
    a0 = must_start(0.);
    a1 = must_start(SD);
    anysock__he_won(&h, a1, 0.3);
    assert_int_equal(h.e[a0].phase, ANYSOCK_PHASE_CANCEL);
    assert_int_equal(h.e[a1].phase, ANYSOCK_PHASE_WON);
    must_wait(0.3, 0.);
    anysock__he_retry(&h, 0.4);
    assert_int_equal(must_start(0.4), a0);
}

/* The table is full (256 entries of SRV groups 1..4, arrived first): a
 * late answer of group 0 takes the place of untried group-4 entries and
 * is tried next; what ran is never displaced; an answer no better than
 * the worst kept one is dropped with -ENOSPC (never "no such name"). */
static void full_table(double delay)
{
    size_t i, ng[6] = {0};

    init(delay, 0., V4, 1);
    for (size_t g = 1; g <= 4; g++)
        answer(0., V4, g, 6, ANYSOCK__HE_MAX_PER_ANSWER);
    assert_int_equal(h.n, ANYSOCK__HE_MAX_ENTRIES);
    i = must_start(0.);
    assert_int_equal(h.e[i].group, 1);
    anysock__he_failed(&h, i, 0.1, -ECONNREFUSED, ANYSOCK_PHASE_CONNECT);
    i = must_start(0.1);
    assert_int_equal(h.e[i].group, 1);
    anysock__he_failed(&h, i, 0.2, -ECONNREFUSED, ANYSOCK_PHASE_CONNECT);
    /* group 5 is worse than all kept: dropped */
    assert_int_equal(anysock__he_add(&h, V4, 5), -ENOSPC);
    assert_int_equal(anysock__he_add(&h, V6, 4), -ENOSPC);
    /* group 0, late: 2 addresses of each family */
    answer(0.3, V4, 0, 6, 2);
    answer(0.3, V6, 0, 6, 2);
    assert_int_equal(h.n, ANYSOCK__HE_MAX_ENTRIES);
    assert_int_equal(h.displaced, 4);
    for (i = 0; i < h.n; i++)
        ng[h.e[i].group]++;
    assert_int_equal(ng[0], 4);
    assert_int_equal(ng[1], ANYSOCK__HE_MAX_PER_ANSWER);
    assert_int_equal(ng[4], ANYSOCK__HE_MAX_PER_ANSWER - 4);
    assert_int_equal(h.e[0].state, ANYSOCK__HE_FAILED);   /* kept */
    assert_int_equal(h.e[1].state, ANYSOCK__HE_FAILED);
    /* group 0's four come next, v4 first (sequential mode: 7.17's order,
     * family before SRV index, so its two v4 only) */
    for (int k = 0; k < (delay > 0. ? 4 : 2); k++) {
        i = must_start(0.3 + k * (delay > 0. ? delay : 0.));
        assert_int_equal(h.e[i].group, 0);
        if (delay > 0.)
            assert_int_equal(fam(i), k % 2 == 0 ? V4 : V6);
        anysock__he_failed(&h, i, 0.3 + k * (delay > 0. ? delay : 0.),
                           -ECONNREFUSED, ANYSOCK_PHASE_CONNECT);
    }
    i = must_start(2.);
    assert_int_equal(h.e[i].group, 1);
}

static void test_full_table_late_srv_zero_is_next(void **state)
{
    (void)state;
    full_table(SD);
}

static void test_full_table_late_srv_zero_sequential(void **state)
{
    (void)state;
    full_table(0.);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, teardown)
        T(test_preferred_first_starts_at_once),
        T(test_other_first_then_preferred_inside_delay),
        T(test_other_first_then_preferred_after_delay),
        T(test_one_family_never_answers),
        T(test_preferred_failing_does_not_delay),
        T(test_late_answer_joins_at_once),
        T(test_late_answer_waits_for_stagger),
        T(test_first_address_family_count),
        T(test_srv_mixed_families),
        T(test_stagger_timeout_deadline),
        T(test_deadline_while_resolving),
        T(test_cancel_at_every_step),
        T(test_cap_after_interleave),
        T(test_cap_leaves_late_family_its_turn),
        T(test_socket_failure_starts_next_at_once),
        T(test_sequential_mode),
        T(test_resolution_status_is_reported),
        T(test_win_then_retry),
        T(test_full_table_late_srv_zero_is_next),
        T(test_full_table_late_srv_zero_sequential),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
