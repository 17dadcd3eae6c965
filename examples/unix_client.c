/* unix_client: send one line to a unix-domain socket server and print
 * the answer.
 *
 *   unix_client PATH MESSAGE
 *
 * tcp_connect takes "unix/" as the host and the path as the service. */
#include <anysock.h>
#include <ev.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct req {
    const char *message;
    int fd;
    int status;
    ev_io io;
} req;

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    req *r = w->data;
    char buf[4096];
    ssize_t n = read(w->fd, buf, sizeof buf);

    (void)revents;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        return;
    }
    if (n == 0)
        r->status = 0;   /* the server answered and closed */
    ev_io_stop(loop, w);
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    req *r = data;
    char line[1024];
    int n;

    (void)host;
    (void)port;
    if (status < 0) {
        fprintf(stderr, "unix_client: %s\n", anysock_strerror(status));
        return;
    }
    r->fd = fd;
    n = snprintf(line, sizeof line, "%s\n", r->message);
    if (n <= 0 || (size_t)n >= sizeof line || write(fd, line, (size_t)n) != n)
        return;
    ev_io_init(&r->io, on_readable, fd, EV_READ);
    r->io.data = r;
    ev_io_start(ev_default_loop(0), &r->io);
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_ctx *ctx = NULL;
    anysock_guard *guard = NULL;
    req r = {.fd = -1, .status = 1};
    int rc;

    if (argc != 3) {
        fprintf(stderr, "usage: unix_client PATH MESSAGE\n");
        return 2;
    }
    r.message = argv[2];
    rc = anysock_ctx_new(loop, NULL, &ctx);
    if (rc == 0)
        rc = anysock_tcp_connect(ctx, "unix/", argv[1], on_connect, NULL, &r,
                                 &guard);
    if (rc < 0) {
        fprintf(stderr, "unix_client: %s\n", anysock_strerror(rc));
        anysock_ctx_free(ctx);
        return 1;
    }
    ev_run(loop, 0);
    anysock_guard_cancel(&guard);
    anysock_ctx_free(ctx);
    if (r.fd >= 0)
        close(r.fd);
    return r.status;
}
