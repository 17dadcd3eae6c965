/* anysock__resolve_stream (src/internal.h), the resolver under
 * tcp_connect's Happy Eyeballs: one ANSWER per (group, family) as it
 * arrives, SRV targets as groups in SRV order, DONE last; never a
 * callback inside the start call; cancellable from inside every event. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "harness/rtest.h"

#define MAXEV 64

struct sev {
    int kind, status, family;
    size_t group, ngroups, count;
    unsigned port;              /* of the first target */
    char first[64];             /* "inet 127.0.0.1 80" */
};

struct srec {
    int n;
    struct sev ev[MAXEV];
    bool returned, early;
    int cancel_at;              /* cancel inside event number k (from 1) */
    anysock__op *op;
    int done;                   /* DONE events, or 1 once cancelled */
};

static void srec_cb(void *data, const anysock__rs_event *ev)
{
    struct srec *r = data;
    struct sev *e = &r->ev[r->n < MAXEV ? r->n : MAXEV - 1];

    if (!r->returned)
        r->early = true;
    memset(e, 0, sizeof *e);
    e->kind = ev->kind;
    e->status = ev->status;
    e->family = ev->family;
    e->group = ev->group;
    e->ngroups = ev->ngroups;
    e->count = ev->count;
    if (ev->kind == ANYSOCK__RS_ANSWER) {
        /* count and status agree; every target is of the family */
        assert_true(ev->count > 0 ? ev->status == 0 : ev->status < 0);
        assert_true(ev->count <= ANYSOCK_RESOLVE_MAX_ADDRS);
        for (size_t i = 0; i < ev->count; i++)
            assert_int_equal(ev->targets[i].family, ev->family);
        if (ev->count > 0) {
            target_str(&ev->targets[0], e->first, sizeof e->first);
            e->port = ev->family == AF_INET
                          ? ntohs(ev->targets[0].addr.u.in.sin_port)
                      : ev->family == AF_INET6
                          ? ntohs(ev->targets[0].addr.u.in6.sin6_port)
                          : 0;
        }
    }
    r->n++;
    if (ev->kind == ANYSOCK__RS_DONE)
        r->done++;
    if (r->n == r->cancel_at) {
        r->op->cancel(r->op);   /* inside DONE too: then a no-op free */
        if (ev->kind != ANYSOCK__RS_DONE)
            r->done++;          /* nothing more may come */
    }
}

struct t {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    int fds;
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);

    if (t == NULL)
        return -1;
    t->fds = count_fds();
    t->loop = ev_loop_new(EVFLAG_AUTO);
    *state = t;
    return t->loop ? 0 : -1;
}

static int teardown(void **state)
{
    struct t *t = *state;

    anysock_ctx_free(t->ctx);
    ev_loop_destroy(t->loop);
    assert_int_equal(count_fds(), t->fds);
    free(t);
    return 0;
}

static void ctx_on(struct t *t, const char *servers, const char *protocols)
{
    anysock_config cfg;

    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    cfg.hosts_file = "/dev/null";
    cfg.protocols = protocols;
    cfg.dns_timeout = 1;
    cfg.dns_tries = 2;
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &t->ctx), 0);
}

static void ctx_dns(struct t *t, const char *protocols)
{
    char servers[64];
    int port = dnsmasq_port();

    if (port == 0) {
        print_message("dnsmasq fixture not running\n");
        skip();
    }
    snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
    ctx_on(t, servers, protocols);
}

/* Start, check nothing ran inside the call, run until DONE (or the
 * cancel), check the loop then has nothing left. */
static void stream(struct t *t, const char *node, const char *svc,
                   int family, int srv, struct srec *r)
{
    int cancel_at = r->cancel_at;

    memset(r, 0, sizeof *r);
    r->cancel_at = cancel_at;
    assert_int_equal(anysock__resolve_stream(t->ctx, node, svc, family, srv,
                                             srec_cb, r, &r->op), 0);
    assert_int_equal(r->n, 0);
    r->returned = true;
    assert_true(run_until(t->loop, &r->done, 1, 10));
    assert_false(r->early);
    assert_true(loop_drains(t->loop, 10));
    assert_int_equal(r->done, 1);
}

static const struct sev *last(const struct srec *r)
{
    return &r->ev[r->n - 1];
}

static void test_literal_is_one_answer_then_done(void **state)
{
    struct t *t = *state;
    struct srec r = {0};

    ctx_on(t, "127.0.0.1:9", NULL);
    stream(t, "127.0.0.1", "80", 0, 1, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ev[0].kind, ANYSOCK__RS_ANSWER);
    assert_int_equal(r.ev[0].family, AF_INET);
    assert_int_equal(r.ev[0].count, 1);
    assert_int_equal(r.ev[0].group, 0);
    assert_int_equal(r.ev[0].ngroups, 1);
    assert_string_equal(r.ev[0].first, "inet 127.0.0.1 80");
    assert_int_equal(r.ev[1].kind, ANYSOCK__RS_DONE);
    assert_int_equal(r.ev[1].status, 0);
}

static void test_localhost_both_families_unix_and_no_target(void **state)
{
    struct t *t = *state;
    struct srec r = {0};

    ctx_on(t, "127.0.0.1:9", NULL);
    stream(t, "localhost", "22", 0, 1, &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.ev[0].first, "inet 127.0.0.1 22");
    assert_string_equal(r.ev[1].first, "inet6 ::1 22");
    assert_int_equal(last(&r)->kind, ANYSOCK__RS_DONE);
    stream(t, "localhost", "22", 6, 1, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ev[0].first, "inet6 ::1 22");
    stream(t, "unix/", "/tmp/x.sock", 0, 1, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ev[0].family, AF_UNIX);
    assert_string_equal(r.ev[0].first, "unix /tmp/x.sock");
    assert_int_equal(last(&r)->status, 0);
    /* nothing to connect to: DONE alone, with resolve_sockaddr's status */
    stream(t, "unix/", "rel.sock", 0, 1, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].kind, ANYSOCK__RS_DONE);
    assert_int_equal(r.ev[0].status, -ENXIO);
    ctx_on(t, "127.0.0.1:9", "ipv4");
    stream(t, "::1", "80", 0, 1, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].status, -ENXIO);
}

static void test_start_errors_call_nothing(void **state)
{
    struct t *t = *state;
    struct srec r = {0};
    anysock__op *op = NULL;

    ctx_on(t, "127.0.0.1:9", NULL);
    assert_int_equal(anysock__resolve_stream(t->ctx, "x.example",
                                             "nosuchservice", 0, 1, srec_cb,
                                             &r, &op), ANYSOCK_ESERVICE);
    assert_int_equal(anysock__resolve_stream(t->ctx, "good\\.x\\065y",
                                             "80", 0, 1, srec_cb, &r, &op),
                     -EINVAL);
    assert_int_equal(anysock__resolve_stream(t->ctx, "x", "80", 5, 1,
                                             srec_cb, &r, &op), -EINVAL);
    assert_null(op);
    assert_true(loop_drains(t->loop, 1));
    assert_int_equal(r.n, 0);
}

static void test_each_family_answers_on_its_own(void **state)
{
    struct t *t = *state;
    struct srec r = {0};

    ctx_dns(t, NULL);
    stream(t, "both.anysock.test", "80", 0, 1, &r);
    assert_int_equal(r.n, 3);
    /* one ANSWER per family, in whatever order they came */
    assert_int_not_equal(r.ev[0].family, r.ev[1].family);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r.ev[i].count, 1);
        assert_string_equal(r.ev[i].first, r.ev[i].family == AF_INET
                                               ? "inet 127.0.0.12 80"
                                               : "inet6 ::1 80");
    }
    assert_int_equal(r.ev[2].kind, ANYSOCK__RS_DONE);
    assert_int_equal(r.ev[2].status, 0);
    /* a name with A only: the AAAA answer says "none", -ENXIO */
    stream(t, "a.anysock.test", "80", 0, 1, &r);
    assert_int_equal(r.n, 3);
    for (int i = 0; i < 2; i++)
        if (r.ev[i].family == AF_INET6)
            assert_true(r.ev[i].count == 0 && r.ev[i].status == -ENXIO);
    assert_int_equal(last(&r)->status, 0);
    stream(t, "nosuch.anysock.test", "80", 4, 1, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ev[0].status, -ENXIO);
    assert_int_equal(r.ev[1].status, -ENXIO);
}

static void test_srv_targets_are_groups_in_srv_order(void **state)
{
    struct t *t = *state;
    struct srec r = {0};
    unsigned port[8] = {0};
    int seen[8][2] = {{0}};

    ctx_dns(t, NULL);
    stream(t, "srvhost.anysock.test", "http", 0, 1, &r);
    /* t4 (priority 5), t1 (10), then t2 and t3 (20, weighted) */
    assert_int_equal(r.n, 4 * 2 + 1);
    for (int i = 0; i < r.n - 1; i++) {
        const struct sev *e = &r.ev[i];

        assert_int_equal(e->kind, ANYSOCK__RS_ANSWER);
        assert_int_equal(e->ngroups, 4);
        assert_true(e->group < 4);
        seen[e->group][e->family == AF_INET6]++;
        if (e->count > 0)
            port[e->group] = e->port;
    }
    for (int g = 0; g < 4; g++)
        assert_true(seen[g][0] == 1 && seen[g][1] == 1);
    assert_int_equal(port[0], 8004);
    assert_int_equal(port[1], 8001);
    assert_true((port[2] == 8002 && port[3] == 8003) ||
                (port[2] == 8003 && port[3] == 8002));
    /* srv 0: no SRV question, the node's own addresses */
    stream(t, "srvhost.anysock.test", "http", 4, 0, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ev[0].first, "inet 127.0.0.40 80");
}

/* Cancelling from inside the k-th event, for every k: nothing more
 * arrives, nothing is left active, no fd stays open. */
static void test_cancel_inside_every_event(void **state)
{
    struct t *t = *state;
    static const char *const nodes[][2] = {
        {"127.0.0.1", "80"}, {"localhost", "80"}, {"unix/", "/tmp/x"},
        {"both.anysock.test", "80"}, {"srvhost.anysock.test", "http"},
    };

    ctx_dns(t, NULL);
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(nodes); i++) {
        struct srec r = {0};
        int total;

        stream(t, nodes[i][0], nodes[i][1], 0, 1, &r);
        total = r.n;
        for (int k = 1; k <= total; k++) {
            memset(&r, 0, sizeof r);
            r.cancel_at = k;
            stream(t, nodes[i][0], nodes[i][1], 0, 1, &r);
            assert_int_equal(r.n, k);
        }
        print_message("%s %s: %d events, cancelled inside each\n",
                      nodes[i][0], nodes[i][1], total);
    }
}

static void test_cancel_before_any_event(void **state)
{
    struct t *t = *state;
    struct srec r = {0};

    ctx_dns(t, NULL);
    assert_int_equal(anysock__resolve_stream(t->ctx, "srvhost.anysock.test",
                                             "http", 0, 1, srec_cb, &r,
                                             &r.op), 0);
    r.op->cancel(r.op);
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(r.n, 0);
}

/* ctx_free from inside an ANSWER: the lookup ends with it, quietly. */
static void free_ctx_cb(void *data, const anysock__rs_event *ev)
{
    struct t *t = data;

    (void)ev;
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
}

static void test_ctx_free_inside_an_answer(void **state)
{
    struct t *t = *state;
    anysock__op *op;

    ctx_dns(t, NULL);
    assert_int_equal(anysock__resolve_stream(t->ctx, "srvhost.anysock.test",
                                             "http", 0, 1, free_ctx_cb, t,
                                             &op), 0);
    run_for(t->loop, 5);
    assert_null(t->ctx);
    assert_true(loop_drains(t->loop, 1));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_literal_is_one_answer_then_done),
        T(test_localhost_both_families_unix_and_no_target),
        T(test_start_errors_call_nothing),
        T(test_each_family_answers_on_its_own),
        T(test_srv_targets_are_groups_in_srv_order),
        T(test_cancel_inside_every_event),
        T(test_cancel_before_any_event),
        T(test_ctx_free_inside_an_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
