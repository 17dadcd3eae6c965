/* internet_full: AnyEvent::Socket's first example in C. Every client is
 * told that the internet is full, with its own address, and dropped.
 *
 *   internet_full [PORT]     (default 8888; 0 picks a free port)
 *
 * Listens on every address (IPv6 and IPv4) until SIGINT or SIGTERM. */
#include <anysock.h>
#include <ev.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    char line[128];
    int n;

    (void)data;
    if (status < 0)
        return;   /* e.g. out of fds; the server carries on */
    n = snprintf(line, sizeof line,
                 "The internet is full, %s:%u. Go away!\r\n", host, port);
    /* small: fits the socket buffer; a peer already gone is its loss */
    if (write(fd, line, (size_t)n) < 0)
        perror("write");
    close(fd);
}

static int on_listen(void *data, int fd, const char *host, unsigned port)
{
    (void)data;
    (void)fd;
    printf("listening %s %u\n", host, port);
    return 0;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_ctx *ctx = NULL;
    anysock_guard *server = NULL;
    ev_signal sint, sterm;
    int rc;

    signal(SIGPIPE, SIG_IGN);
    rc = anysock_ctx_new(loop, NULL, &ctx);
    if (rc == 0)
        rc = anysock_tcp_server(ctx, NULL, argc > 1 ? argv[1] : "8888",
                                on_accept, on_listen, NULL, &server);
    if (rc < 0) {
        fprintf(stderr, "internet_full: %s\n", anysock_strerror(rc));
        anysock_ctx_free(ctx);
        return 1;
    }
    fflush(stdout);   /* now listening: tell whoever waits for the line */
    ev_signal_init(&sint, on_signal, SIGINT);
    ev_signal_init(&sterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sint);
    ev_signal_start(loop, &sterm);
    ev_run(loop, 0);
    ev_signal_stop(loop, &sint);
    ev_signal_stop(loop, &sterm);
    anysock_guard_cancel(&server);
    anysock_ctx_free(ctx);
    return 0;
}
