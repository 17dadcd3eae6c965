/* unix_server: a line server on a unix-domain socket.
 *
 *   unix_server PATH
 *
 * Answers each client's first line with "you said: LINE" and closes.
 * An existing socket file at PATH is replaced; any other file is left
 * alone (the server refuses to start). SIGINT/SIGTERM stop it and remove
 * the socket file. */
#include <anysock.h>
#include <ev.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct client {
    ev_io io;
    size_t len;
    char line[512];
} client;

static void client_done(struct ev_loop *loop, client *c)
{
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    client *c = (client *)w;   /* io is the first member */
    char reply[600];
    char *nl;
    ssize_t n;
    int m;

    (void)revents;
    n = read(w->fd, c->line + c->len, sizeof c->line - 1 - c->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_done(loop, c);
        return;
    }
    c->len += (size_t)n;
    c->line[c->len] = '\0';
    nl = strchr(c->line, '\n');
    if (nl == NULL && c->len < sizeof c->line - 1)
        return;   /* wait for the rest of the line */
    if (nl != NULL)
        *nl = '\0';
    m = snprintf(reply, sizeof reply, "you said: %s\n", c->line);
    /* one short line into an empty socket buffer: all of it or an error */
    if (write(w->fd, reply, (size_t)m) < 0)
        perror("write");
    client_done(loop, c);
}

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    struct ev_loop *loop = data;
    client *c;

    (void)host;   /* "unix/" */
    (void)port;
    if (status < 0)
        return;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(fd);
        return;
    }
    ev_io_init(&c->io, on_readable, fd, EV_READ);
    ev_io_start(loop, &c->io);
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

    if (argc != 2) {
        fprintf(stderr, "usage: unix_server PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    rc = anysock_ctx_new(loop, NULL, &ctx);
    if (rc == 0)
        rc = anysock_tcp_server(ctx, "unix/", argv[1], on_accept, NULL, loop,
                                &server);
    if (rc < 0) {
        fprintf(stderr, "unix_server: %s: %s\n", argv[1],
                anysock_strerror(rc));
        anysock_ctx_free(ctx);
        return 1;
    }
    printf("listening unix/ %s\n", argv[1]);
    fflush(stdout);
    ev_signal_init(&sint, on_signal, SIGINT);
    ev_signal_init(&sterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sint);
    ev_signal_start(loop, &sterm);
    ev_run(loop, 0);
    ev_signal_stop(loop, &sint);
    ev_signal_stop(loop, &sterm);
    anysock_guard_cancel(&server);   /* closes and removes the file */
    anysock_ctx_free(ctx);
    return 0;
}
