/* The fixture the resolver and hosts-file tests share: a loop, a ctx on
 * dnsmasq or on the fault responder, a private hosts file, and the fd
 * count checked at teardown. Included once per test program, after
 * fakedns.h and rtest.h. */
#ifndef RFIXTURE_H
#define RFIXTURE_H

struct t {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    int fds;
    char hosts[256];
    fakedns *fake;
    uint16_t fakeport;
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);

    if (t == NULL)
        return -1;
    t->fds = count_fds();
    t->loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(t->hosts, sizeof t->hosts, "%s/anysock-hosts-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    {
        int fd = mkstemp(t->hosts);

        if (fd < 0)
            return -1;
        close(fd);
    }
    *state = t;
    return t->loop ? 0 : -1;
}

static int teardown(void **state)
{
    struct t *t = *state;

    anysock_ctx_free(t->ctx);
    fakedns_stop(t->fake);
    ev_loop_destroy(t->loop);
    unlink(t->hosts);
    /* the loop, ctx and responder are gone: every fd must be back */
    assert_int_equal(count_fds(), t->fds);
    free(t);
    return 0;
}

static void write_hosts(struct t *t, const char *text)
{
    FILE *f = fopen(t->hosts, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* t->ctx on `servers`, with t's hosts file and the given timeouts. */
static void ctx_on(struct t *t, const char *servers, const char *protocols,
                   double timeout, int tries)
{
    anysock_config cfg;

    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    cfg.hosts_file = t->hosts;
    cfg.protocols = protocols;
    cfg.dns_timeout = timeout;
    cfg.dns_tries = tries;
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &t->ctx), 0);
    /* timers count from the loop's cached time, stale by the set-up
     * (seconds under valgrind) */
    ev_now_update(t->loop);
}

/* A ctx on dnsmasq (skips visibly without it). */
static void ctx_dns(struct t *t, const char *protocols)
{
    char servers[64];
    int port = dnsmasq_port();

    if (port == 0) {
        print_message("dnsmasq fixture not running\n");
        skip();
    }
    snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
    ctx_on(t, servers, protocols, 1, 2);
}

/* A ctx on the fault responder, small timeouts. */
static void ctx_fake(struct t *t, double timeout, int tries)
{
    char servers[64];

    assert_int_equal(fakedns_start(&t->fake, &t->fakeport), 0);
    snprintf(servers, sizeof servers, "127.0.0.1:%u", t->fakeport);
    ctx_on(t, servers, NULL, timeout, tries);
}

/* Start, run to the callback, check the rules, return the joined text. */
static const char *resolve(struct t *t, const char *node, const char *svc,
                           const char *proto, int family, int socktype,
                           struct rec *r, char *buf, size_t buflen)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, node, svc, proto,
                                              family, socktype,
                                              rec_resolve_cb, r, NULL), 0);
    r->returned = true;
    assert_true(run_until(t->loop, &r->calls, 1, 10));
    assert_false(r->early);
    assert_int_equal(r->calls, 1);
    assert_true(loop_drains(t->loop, 10));
    assert_int_equal(r->calls, 1);
    if (r->n == 0)
        assert_true(r->status < 0);
    else
        assert_int_equal(r->status, 0);
    return rec_str(r, buf, buflen);
}

#define RESOLVE(node, svc, proto, fam, type)                                \
    resolve(t, node, svc, proto, fam, type, &r, buf, sizeof buf)

#endif
