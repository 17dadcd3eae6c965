/* The fixture shared by test_transport.c and test_transport_netns.c: one
 * loop and context, a server (tcp_server_ex) recording the last accepted
 * connection and its peer, and a client (tcp_connect_ex) recording its
 * outcome and the MPTCP trace event. Header-only: each test is one file;
 * include after cmocka.h and nettest.h. */
#ifndef ANYSOCK_TRANSPORT_FX_H
#define ANYSOCK_TRANSPORT_FX_H

typedef struct fx {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    anysock_guard *server, *client;
    int fds_before;
    unsigned port;          /* the server's */
    /* server side: the last connection accepted and its peer */
    int accepted;
    char peer[ANYSOCK_ADDRESS_STRLEN];
    unsigned peer_port;
    /* client side */
    bool done;
    int status, fd;
    int mptcp_trace;        /* -1 none, else the TRANSPORT event's status */
} fx;

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    fx *f = data;

    if (status < 0)
        return;
    if (f->accepted >= 0)
        close(f->accepted);
    f->accepted = fd;
    snprintf(f->peer, sizeof f->peer, "%s", host);
    f->peer_port = port;
}

static int on_listen(void *data, int fd, const char *host, unsigned port)
{
    fx *f = data;

    (void)fd;
    (void)host;
    f->port = port;
    return 0;
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    fx *f = data;

    (void)host;
    (void)port;
    f->status = status;
    f->fd = fd;
    f->done = true;
}

static void on_trace(void *data, const anysock_trace *ev)
{
    fx *f = data;

    if (ev->event == ANYSOCK_TRACE_TRANSPORT)
        f->mptcp_trace = ev->status;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    f->fds_before = nt_count_fds();
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(anysock_ctx_new(f->loop, NULL, &f->ctx), 0);
    f->accepted = f->fd = -1;
    f->mptcp_trace = -1;
    *state = f;
    return 0;
}

/* Close both ends of the current connection. */
static void drop_conn(fx *f)
{
    anysock_guard_cancel(&f->client);
    if (f->fd >= 0)
        close(f->fd);
    if (f->accepted >= 0)
        close(f->accepted);
    f->fd = f->accepted = -1;
}

static int teardown(void **state)
{
    fx *f = *state;

    drop_conn(f);
    anysock_guard_cancel(&f->server);
    assert_true(nt_loop_idle(f->loop));
    anysock_ctx_free(f->ctx);
    ev_loop_destroy(f->loop);
    assert_int_equal(nt_count_fds(), f->fds_before);
    free(f);
    return 0;
}

/* (Re)start the server on host, an ephemeral port. */
static void tx_serve(fx *f, const char *host, const anysock_server_opts *so)
{
    anysock_guard_cancel(&f->server);
    assert_int_equal(anysock_tcp_server_ex(f->ctx, host, "0", so, on_accept,
                                           on_listen, f, &f->server), 0);
}

/* tcp_connect_ex on ctx to host:f->port; runs until connected (or failed)
 * and, with wait_accept, until the server has accepted. Returns the
 * status. */
static int tx_connect(fx *f, anysock_ctx *ctx, const char *host,
                      const anysock_connect_opts *o, bool wait_accept)
{
    char port[8];

    snprintf(port, sizeof port, "%u", f->port);
    f->done = false;
    assert_int_equal(anysock_tcp_connect_ex(ctx, host, port, o, on_connect,
                                            NULL, f, &f->client), 0);
    assert_true(nt_run_until(f->loop, &f->done, 10.));
    if (f->status == 0 && wait_accept) {
        for (int i = 0; i < 2000 && f->accepted < 0; i++) {
            ev_run(f->loop, EVRUN_ONCE | EVRUN_NOWAIT);
            if (f->accepted < 0)
                usleep(1000);
        }
        assert_true(f->accepted >= 0);
    }
    return f->status;
}

#endif
