/* Issue 17: resolv.conf (a test copy named by anysock_config.resolv_conf)
 * rewritten during a run. The next lookup after the change goes to the new
 * server, lookups in flight at the change finish on the old one (whose
 * channels are freed once empty), no fd leaks, and nothing is looked at
 * while idle: no timer, no stat() (every stat call of the library is
 * counted through --wrap=stat), at most one look per second.
 * c-ares 1.18 reads no port from resolv.conf, so the servers listen on
 * port 53 of 127.0.0.3 and 127.0.0.4 inside a network namespace this
 * process makes for itself (root; exit 77 otherwise).
 * Servers: tests/harness/ttldns.c, on the test's own loop. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "harness/rtest.h"
#include "harness/ttldns.h"

static unsigned stats_called;

int __real_stat(const char *path, struct stat *st);
int __wrap_stat(const char *path, struct stat *st);
int __wrap_stat(const char *path, struct stat *st)
{
    stats_called++;
    return __real_stat(path, st);
}

struct t {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    ttldns *d1, *d2;
    char conf[256];
    int fds;
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    uint16_t port;
    int fd;

    if (t == NULL)
        return -1;
    unsetenv("ANYSOCK_DNS_SERVERS");
    unsetenv("ANYSOCK_DNS_CACHE");
    t->fds = count_fds();
    t->loop = ev_loop_new(EVFLAG_AUTO);
    if (t->loop == NULL ||
        ttldns_start(t->loop, "127.0.0.3", 53, "127.0.1.1", &t->d1,
                     &port) < 0 ||
        ttldns_start(t->loop, "127.0.0.4", 53, "127.0.2.2", &t->d2,
                     &port) < 0)
        return -1;
    snprintf(t->conf, sizeof t->conf, "%s/anysock-resolv-XXXXXX", tmp);
    if ((fd = mkstemp(t->conf)) < 0)
        return -1;
    close(fd);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;

    anysock_ctx_free(t->ctx);
    ttldns_stop(t->d1);
    ttldns_stop(t->d2);
    ev_loop_destroy(t->loop);
    unlink(t->conf);
    assert_int_equal(count_fds(), t->fds);
    free(t);
    return 0;
}

/* Rewritten in place, as an editor or resolvconf does. */
static void write_conf(struct t *t, const char *text)
{
    FILE *f = fopen(t->conf, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void ctx_on_conf(struct t *t)
{
    anysock_config cfg;

    anysock_config_init(&cfg);
    cfg.resolv_conf = t->conf;
    cfg.hosts_file = "/dev/null/none";   /* no hosts answers */
    cfg.dns_timeout = 3;
    cfg.dns_tries = 1;
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &t->ctx), 0);
    ev_now_update(t->loop);
}

static void wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    *(int *)w->data = 1;
}

/* Let `secs` pass on the loop. */
static void wait_for(struct ev_loop *loop, double secs)
{
    ev_timer w;
    int done = 0;

    ev_now_update(loop);
    ev_timer_init(&w, wait_cb, secs, 0.);
    w.data = &done;
    ev_timer_start(loop, &w);
    while (!done)
        ev_run(loop, EVRUN_ONCE);
}

static int start4(struct t *t, const char *name, struct rec *r)
{
    memset(r, 0, sizeof *r);
    return anysock_resolve_sockaddr(t->ctx, name, "80", NULL, 4, 0,
                                    rec_resolve_cb, r, NULL);
}

/* The first address of a finished lookup, as text. */
static const char *addr_of(const struct rec *r, char *buf, size_t len)
{
    anysock_addr a;

    buf[0] = '\0';
    if (r->n > 0 && anysock_unpack_sockaddr(&r->t[0].addr.u.sa,
                                            r->t[0].addr.len, &a, NULL,
                                            NULL, NULL) == 0)
        anysock_format_address(&a, buf, len);
    return buf;
}

static const char *resolve4(struct t *t, const char *name, char *buf,
                            size_t len)
{
    struct rec r;

    assert_int_equal(start4(t, name, &r), 0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 10));
    assert_false(r.early);
    assert_int_equal(r.status, 0);
    return addr_of(&r, buf, len);
}

static anysock__dns_debug dbg(struct t *t)
{
    anysock__dns_debug d;

    anysock__dns_debug_get(t->ctx, &d);
    return d;
}

static void test_reload_next_lookup_goes_to_new_server(void **state)
{
    struct t *t = *state;
    struct rec held;
    char buf[64];
    int fds_mid;

    write_conf(t, "# first\nnameserver 127.0.0.3\n");
    ctx_on_conf(t);
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.1.1");
    /* a lookup the old server holds across the change */
    assert_int_equal(start4(t, "hold.test", &held), 0);
    held.returned = true;
    while (ttldns_count(t->d1, "hold.test", 1) == 0)
        ev_run(t->loop, EVRUN_ONCE);
    wait_for(t->loop, 1.1);      /* past the once-a-second window */
    write_conf(t, "# second\nnameserver 127.0.0.4\n");
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.2.2");
    assert_int_equal(ttldns_count(t->d1, "a0.test", 1), 1);
    assert_int_equal(ttldns_count(t->d2, "a0.test", 1), 1);
    assert_int_equal(dbg(t).conf_reloads, 1);
    assert_int_equal(dbg(t).retired, 1);   /* the old set, still busy */
    assert_int_equal(held.calls, 0);
    fds_mid = count_fds();
    /* the old server answers: the held lookup ends on the old set */
    assert_int_equal(ttldns_release(t->d1), 1);
    assert_true(run_until(t->loop, &held.calls, 1, 10));
    assert_int_equal(held.status, 0);
    assert_string_equal(addr_of(&held, buf, sizeof buf), "127.0.1.1");
    assert_int_equal(ttldns_count(t->d2, "hold.test", 1), 0);
    /* the old set is gone with its socket */
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(dbg(t).retired, 0);
    assert_true(count_fds() < fds_mid);
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.2.2");
}

static void test_reload_nothing_looked_at_while_idle(void **state)
{
    struct t *t = *state;
    struct rec r[10];
    unsigned before;
    char buf[64];

    write_conf(t, "nameserver 127.0.0.3\n");
    ctx_on_conf(t);
    /* idle: no watcher of ours (ev_run returns at once), no stat */
    before = stats_called;
    wait_for(t->loop, 1.2);
    assert_int_equal(stats_called, before);
    assert_int_equal(dbg(t).conf_checks, 0);
    /* ten lookups started together: one look */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(start4(t, "a0.test", &r[i]), 0);
        r[i].returned = true;
    }
    assert_true(run_until(t->loop, &r[9].calls, 1, 10));
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(dbg(t).conf_checks, 1);
    assert_true(stats_called > before);   /* the wrap does see the look */
    assert_int_equal(dbg(t).active, 0);
    /* idle again after work: still nothing */
    before = stats_called;
    wait_for(t->loop, 1.2);
    assert_int_equal(stats_called, before);
    assert_int_equal(dbg(t).conf_checks, 1);
    /* an unchanged file: a look, no new set */
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.1.1");
    assert_int_equal(dbg(t).conf_checks, 2);
    assert_int_equal(dbg(t).conf_reloads, 0);
    /* changed within the second after a look: seen only a second later */
    write_conf(t, "nameserver 127.0.0.4\n");
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.1.1");
    wait_for(t->loop, 1.1);
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.2.2");
    assert_int_equal(dbg(t).conf_reloads, 1);
    assert_int_equal(dbg(t).retired, 0);  /* the old set was idle: freed */
}

static void test_reload_to_no_servers_and_back(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[64];

    write_conf(t, "nameserver 127.0.0.3\n");
    ctx_on_conf(t);
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.1.1");
    wait_for(t->loop, 1.1);
    write_conf(t, "");
    assert_int_equal(start4(t, "a0.test", &r), 0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 1));
    assert_int_equal(r.status, ANYSOCK_ENOSERVERS);
    assert_int_equal(dbg(t).nservers, 0);
    wait_for(t->loop, 1.1);
    /* replaced by rename, as resolvconf and NetworkManager do */
    {
        char tmp[300];
        FILE *f;

        snprintf(tmp, sizeof tmp, "%s.new", t->conf);
        f = fopen(tmp, "w");
        assert_non_null(f);
        fputs("nameserver 127.0.0.4\nnameserver 127.0.0.3\n", f);
        fclose(f);
        assert_int_equal(rename(tmp, t->conf), 0);
    }
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.2.2");
    assert_int_equal(dbg(t).nservers, 2);
    assert_int_equal(dbg(t).conf_reloads, 2);
}

/* ctx_free with an old set still holding a query: everything goes (the
 * valgrind run checks the memory, teardown the fds). */
static void test_reload_ctx_free_with_old_set_busy(void **state)
{
    struct t *t = *state;
    struct rec held;
    char buf[64];

    write_conf(t, "nameserver 127.0.0.3\n");
    ctx_on_conf(t);
    assert_int_equal(start4(t, "hold.test", &held), 0);
    held.returned = true;
    while (ttldns_count(t->d1, "hold.test", 1) == 0)
        ev_run(t->loop, EVRUN_ONCE);
    wait_for(t->loop, 1.1);
    write_conf(t, "nameserver 127.0.0.4\n");
    assert_string_equal(resolve4(t, "a0.test", buf, sizeof buf),
                        "127.0.2.2");
    assert_int_equal(dbg(t).retired, 1);
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    assert_int_equal(held.calls, 0);
}

static int lo_up(void)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_reload_next_lookup_goes_to_new_server, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_reload_nothing_looked_at_while_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_to_no_servers_and_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_reload_ctx_free_with_old_set_busy, setup, teardown),
    };

    /* port 53 on our own loopback, away from everything else */
    if (unshare(CLONE_NEWNET) != 0 || lo_up() != 0) {
        fprintf(stderr, "SKIPPED: a network namespace is needed (root): "
                        "%s\n", strerror(errno));
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
