/* Several threads, each with its own libev loop and context, using every
 * layer at once: a server, connects to it (some cancelled), DNS lookups
 * against one shared responder, and the address functions. The library
 * has no global mutable state, so this must just work; the tsan preset
 * runs it under ThreadSanitizer to prove there is no data race. */
#include <anysock.h>
#include <ev.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "harness/fakedns.h"
#include "harness/nettest.h"

#define NTHREADS 4
#define NCONNECT 200   /* per thread; every fourth is cancelled at once */
#define NRESOLVE 100   /* per thread */

struct worker {
    uint16_t dns_port;
    unsigned port;     /* the server's, from its prepare callback */
    int setup_rc;
    unsigned accepted, connected, cancelled, resolved, addr_ok;
    unsigned late;     /* callbacks after cancel: must stay 0 */
    unsigned pending;  /* connects and lookups still to finish */
    bool done;
};

struct req {
    struct worker *w;
    bool cancelled;
};

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    struct worker *w = data;

    (void)host;
    (void)port;
    if (status == 0) {
        w->accepted++;
        close(fd);
    }
}

static int on_listen(void *data, int fd, const char *host, unsigned port)
{
    struct worker *w = data;

    (void)fd;
    (void)host;
    w->port = port;
    return 0;
}

static void finish_one(struct worker *w)
{
    if (--w->pending == 0) {
        w->done = true;
    }
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    struct req *r = data;

    (void)host;
    (void)port;
    if (r->cancelled) {
        r->w->late++;
        return;
    }
    if (status == 0) {
        r->w->connected++;
        close(fd);
    }
    finish_one(r->w);
}

static void on_resolve(void *data, int status, const anysock_target *t,
                       size_t n)
{
    struct worker *w = data;

    if (status == 0 && n >= 1 && t[0].family == AF_INET)
        w->resolved++;
    finish_one(w);
}

/* Pure address-layer work interleaved with the event work. */
static void address_round(struct worker *w, unsigned i)
{
    char text[ANYSOCK_ADDRESS_STRLEN], in[64];
    anysock_addr a;
    /* canonical text (no zero group beside "::"), so it must round trip */
    int n = snprintf(in, sizeof in, "2001:db8::%x:%x", i + 1, (i & 255) + 1);

    if (anysock_parse_address(in, (size_t)n, &a) == 0 &&
        anysock_format_address(&a, text, sizeof text) > 0 &&
        strcmp(text, in) == 0)
        w->addr_ok++;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    anysock_ctx *ctx = NULL;
    anysock_guard *server = NULL;
    anysock_config cfg;
    char servers[32], port[8], name[64];
    struct req reqs[NCONNECT];
    unsigned i;

    snprintf(servers, sizeof servers, "127.0.0.1:%u", w->dns_port);
    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    cfg.hosts_file = "/nonexistent-anysock-hosts";
    w->setup_rc = loop == NULL ? -ENOMEM : anysock_ctx_new(loop, &cfg, &ctx);
    if (w->setup_rc == 0)
        w->setup_rc = anysock_tcp_server(ctx, "127.0.0.1", "0", on_accept,
                                         on_listen, w, &server);
    if (w->setup_rc != 0)
        goto out;
    snprintf(port, sizeof port, "%u", w->port);

    for (i = 0; i < NCONNECT; i++) {
        anysock_guard *g = NULL;

        reqs[i].w = w;
        reqs[i].cancelled = false;
        if (anysock_tcp_connect(ctx, "127.0.0.1", port, on_connect, NULL,
                                &reqs[i], &g) != 0)
            continue;
        if (i % 4 == 3) {
            reqs[i].cancelled = true;
            anysock_guard_cancel(&g);
            w->cancelled++;
        } else {
            w->pending++;
        }
    }
    for (i = 0; i < NRESOLVE; i++) {
        snprintf(name, sizeof name, "w%p-%u.test", (void *)w, i);
        if (anysock_resolve_sockaddr(ctx, name, "80", NULL, 4, 0, on_resolve,
                                     w, NULL) == 0)
            w->pending++;
        address_round(w, i);
    }
    if (w->pending > 0)
        (void)nt_run_until(loop, &w->done, 30.);
    /* accepts can trail the connects that saw success */
    for (i = 0; i < 50 && w->accepted < w->connected; i++)
        ev_run(loop, EVRUN_NOWAIT | EVRUN_ONCE);
    anysock_guard_cancel(&server);
out:
    anysock_ctx_free(ctx);
    if (loop != NULL)
        ev_loop_destroy(loop);
    return NULL;
}

static void test_threads_each_with_own_loop(void **state)
{
    struct worker w[NTHREADS];
    pthread_t tid[NTHREADS];
    fakedns *dns;
    uint16_t dns_port;
    int fds = nt_count_fds();

    (void)state;
    assert_int_equal(fakedns_start(&dns, &dns_port), 0);
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].dns_port = dns_port;
        assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]),
                         0);
    }
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    fakedns_stop(dns);

    for (int i = 0; i < NTHREADS; i++) {
        print_message("thread %d: connected %u accepted %u cancelled %u "
                      "resolved %u\n", i, w[i].connected, w[i].accepted,
                      w[i].cancelled, w[i].resolved);
        assert_int_equal(w[i].setup_rc, 0);
        assert_int_equal(w[i].late, 0);
        assert_int_equal(w[i].cancelled, NCONNECT / 4);
        assert_int_equal(w[i].connected, NCONNECT - NCONNECT / 4);
        assert_true(w[i].accepted >= w[i].connected);
        assert_int_equal(w[i].resolved, NRESOLVE);
        assert_int_equal(w[i].addr_ok, NRESOLVE);
    }
    assert_int_equal(nt_count_fds(), fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_each_with_own_loop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
