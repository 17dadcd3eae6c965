/* http_get: fetch a URL path with HTTP/1.0 and print the raw response.
 *
 *   http_get HOST [SERVICE [PATH]]     (SERVICE defaults to "http")
 *
 * tcp_connect resolves HOST (names, IPv4, IPv6) and races its addresses;
 * the response is copied to stdout until the server closes. */
#include <anysock.h>
#include <ev.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct get {
    const char *host, *path;
    int fd;
    int status;   /* exit status */
    ev_io io;
} get;

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    get *g = w->data;
    char buf[16384];
    ssize_t n = read(w->fd, buf, sizeof buf);

    (void)revents;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        return;
    }
    if (n < 0) {
        fprintf(stderr, "http_get: %s\n", anysock_strerror(-errno));
        g->status = 1;
    }
    ev_io_stop(loop, w);   /* EOF: the response is complete */
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    get *g = data;
    char req[1024];
    int n;

    if (status < 0) {
        fprintf(stderr, "http_get: %s: %s\n", g->host,
                anysock_strerror(status));
        g->status = 1;
        return;
    }
    fprintf(stderr, "connected to %s port %u\n", host, port);
    g->fd = fd;
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 g->path, g->host);
    /* a small request fits the fresh socket's buffer in one write */
    if (n <= 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        fprintf(stderr, "http_get: cannot send the request\n");
        g->status = 1;
        return;
    }
    ev_io_init(&g->io, on_readable, fd, EV_READ);
    g->io.data = g;
    ev_io_start(ev_default_loop(0), &g->io);
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_ctx *ctx = NULL;
    anysock_guard *guard = NULL;
    get g = {.fd = -1};
    int rc;

    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: http_get HOST [SERVICE [PATH]]\n");
        return 2;
    }
    g.host = argv[1];
    g.path = argc > 3 ? argv[3] : "/";
    rc = anysock_ctx_new(loop, NULL, &ctx);
    if (rc == 0)
        rc = anysock_tcp_connect(ctx, g.host, argc > 2 ? argv[2] : "http",
                                 on_connect, NULL, &g, &guard);
    if (rc < 0) {
        fprintf(stderr, "http_get: %s\n", anysock_strerror(rc));
        anysock_ctx_free(ctx);
        return 1;
    }
    ev_run(loop, 0);
    anysock_guard_cancel(&guard);
    anysock_ctx_free(ctx);
    if (g.fd >= 0)
        close(g.fd);
    return g.status;
}
