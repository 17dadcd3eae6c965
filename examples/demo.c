/* demo: libanysock end to end on loopback, with no setup.
 *
 * Starts a server on an ephemeral port, resolves "localhost", connects to
 * it with tcp_connect (Happy Eyeballs over 127.0.0.1 and ::1), sends a
 * message, reads the server's answer, and shows the address functions on
 * the way. Prints a short report; exits 0 when every step worked. */
#include <anysock.h>
#include <ev.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct demo {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    anysock_guard *server, *resolve, *connect;
    unsigned port;
    char port_text[8];
    int server_fd, client_fd;   /* the two ends of our connection */
    ev_io server_io, client_io;
    double t0, t_connect;
    char peer[ANYSOCK_ADDRESS_STRLEN + 8];
    bool ok;
} demo;

static const char message[] = "hello from libanysock";

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show_addresses(void)
{
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 1};
    const char *mapped = "::ffff:192.0.2.1";
    const char *hp = "[::1]:8080";
    char text[ANYSOCK_ADDRESS_STRLEN];
    anysock_addr a;
    anysock_hostport h;

    if (anysock_parse_address(mapped, strlen(mapped), &a) == 0 &&
        anysock_format_address(&a, text, sizeof text) >= 0)
        printf("  address   parse_address(\"%s\") -> %s (%s)\n", mapped,
               text, a.family == AF_INET ? "IPv4" : "IPv6");
    if (anysock_format_ipv6(v6, text, sizeof text) >= 0)
        printf("            format_ipv6(2001:db8:0:0:0:0:0:1) -> %s\n", text);
    if (anysock_parse_hostport(hp, strlen(hp), NULL, 0, &h) == 0)
        printf("            parse_hostport(\"%s\") -> host %.*s, port %.*s\n",
               hp, (int)h.hostlen, h.host, (int)h.portlen, h.port);
}

/* Server side: answer the message in upper case, then close. */
static void server_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    demo *d = w->data;
    char buf[128];
    ssize_t n = read(w->fd, buf, sizeof buf);

    (void)revents;
    if (n < 0 && errno == EAGAIN)
        return;
    ev_io_stop(loop, w);
    if (n > 0) {
        for (ssize_t i = 0; i < n; i++)
            buf[i] = (char)toupper((unsigned char)buf[i]);
        /* a few bytes into an empty socket buffer: all or an error */
        if (write(w->fd, buf, (size_t)n) != n)
            fprintf(stderr, "  server    write: %s\n", strerror(errno));
    }
    close(w->fd);
    d->server_fd = -1;
}

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    demo *d = data;

    if (status < 0)
        return;
    snprintf(d->peer, sizeof d->peer, "%s port %u", host, port);
    d->server_fd = fd;
    ev_io_init(&d->server_io, server_read_cb, fd, EV_READ);
    d->server_io.data = d;
    ev_io_start(d->loop, &d->server_io);
}

static int on_listen(void *data, int fd, const char *host, unsigned port)
{
    demo *d = data;

    (void)fd;
    d->port = port;
    printf("  server    listening on %s port %u%s\n", host, port,
           strcmp(host, "::") == 0 ? " (IPv6 and IPv4, one socket)" : "");
    return 0;
}

/* Client side: print the answer and finish. */
static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    demo *d = w->data;
    char buf[128];
    ssize_t n = read(w->fd, buf, sizeof buf - 1);

    (void)revents;
    if (n < 0 && errno == EAGAIN)
        return;
    ev_io_stop(loop, w);
    if (n > 0) {
        buf[n] = '\0';
        printf("  exchange  sent \"%s\", the server saw us as %s\n"
               "            and answered \"%s\"\n", message, d->peer, buf);
        d->ok = strncmp(buf, "HELLO FROM LIBANYSOCK", 21) == 0;
    }
    ev_break(loop, EVBREAK_ALL);
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    demo *d = data;

    if (status < 0) {
        printf("  connect   failed: %s\n", anysock_strerror(status));
        ev_break(d->loop, EVBREAK_ALL);
        return;
    }
    d->t_connect = now();
    printf("  connect   tcp_connect(\"localhost\", %u) -> %s port %u\n",
           d->port, host, port);
    d->client_fd = fd;
    if (write(fd, message, sizeof message - 1) != sizeof message - 1)
        fprintf(stderr, "  client    write: %s\n", strerror(errno));
    ev_io_init(&d->client_io, client_read_cb, fd, EV_READ);
    d->client_io.data = d;
    ev_io_start(d->loop, &d->client_io);
}

static void on_resolve(void *data, int status, const anysock_target *t,
                       size_t count)
{
    char text[ANYSOCK_ADDRESS_STRLEN];
    anysock_addr a;
    uint16_t port;

    (void)data;
    if (status < 0) {
        printf("  resolve   failed: %s\n", anysock_strerror(status));
        return;
    }
    printf("  resolve   localhost ->");
    for (size_t i = 0; i < count; i++)
        if (anysock_unpack_sockaddr(&t[i].addr.u.sa, t[i].addr.len, &a,
                                    &port, NULL, NULL) == 0 &&
            anysock_format_address(&a, text, sizeof text) >= 0)
            printf("%s %s", i ? "," : "", text);
    printf("\n");
}

static void give_up(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    printf("  timeout   no answer within 5 s\n");
    ev_break(loop, EVBREAK_ALL);
}

int main(void)
{
    demo d = {.server_fd = -1, .client_fd = -1};
    ev_timer limit;
    int rc;

    d.t0 = now();
    d.loop = ev_default_loop(0);
    printf("libanysock %s demo\n", anysock_version());
    show_addresses();
    rc = anysock_ctx_new(d.loop, NULL, &d.ctx);
    if (rc == 0)
        rc = anysock_tcp_server(d.ctx, NULL, "0", on_accept, on_listen, &d,
                                &d.server);
    snprintf(d.port_text, sizeof d.port_text, "%u", d.port);
    if (rc == 0)
        rc = anysock_resolve_sockaddr(d.ctx, "localhost", d.port_text, "tcp",
                                      0, 0, on_resolve, &d, &d.resolve);
    if (rc == 0)
        rc = anysock_tcp_connect(d.ctx, "localhost", d.port_text, on_connect,
                                 NULL, &d, &d.connect);
    if (rc < 0) {
        printf("  setup     failed: %s\n", anysock_strerror(rc));
    } else {
        ev_timer_init(&limit, give_up, 5., 0.);
        ev_timer_start(d.loop, &limit);
        ev_run(d.loop, 0);
        ev_timer_stop(d.loop, &limit);
    }
    if (d.ok)
        printf("  done      connected after %.1f ms, all done in %.1f ms\n",
               (d.t_connect - d.t0) * 1e3, (now() - d.t0) * 1e3);
    anysock_guard_cancel(&d.connect);
    anysock_guard_cancel(&d.resolve);
    anysock_guard_cancel(&d.server);
    if (d.client_fd >= 0)
        close(d.client_fd);
    if (d.server_fd >= 0) {
        ev_io_stop(d.loop, &d.server_io);
        close(d.server_fd);
    }
    anysock_ctx_free(d.ctx);
    return d.ok ? 0 : 1;
}
