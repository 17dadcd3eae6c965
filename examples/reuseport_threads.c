/* reuseport_threads: one port served by N threads, each with its own
 * libev loop, its own anysock context and its own SO_REUSEPORT listener.
 * The kernel spreads incoming connections across the listeners (by a
 * hash of the 4-tuple), so there are no locks and no shared accept queue.
 *
 *   reuseport_threads N HOST PORT
 *
 * Each connection gets "thread K\n" and is closed. Prints
 * "listening HOST PORT" once every thread listens (PORT is the real port
 * when 0 was asked: the first thread picks it, the others join it). On
 * SIGINT/SIGTERM every loop stops and "thread K served C" is printed for
 * each thread. */
#include <anysock.h>
#include <ev.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 64

typedef struct worker {
    int id;
    const char *host;
    char port[8];
    pthread_t thread;
    struct ev_loop *loop;
    ev_async stop;            /* the main thread's way in */
    unsigned served;
    unsigned bound_port;
    int status;               /* 0 listening, < 0 setup error */
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int ready;                /* guarded by mu */
} worker;

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    worker *w = data;
    char line[32];
    int n;

    (void)host;
    (void)port;
    if (status < 0)
        return;   /* e.g. out of fds: the server keeps going */
    n = snprintf(line, sizeof line, "thread %d\n", w->id);
    /* a short line into an empty socket buffer: all of it or an error */
    if (write(fd, line, (size_t)n) < 0)
        perror("write");
    close(fd);
    w->served++;
}

static int on_listen(void *data, int fd, const char *host, unsigned port)
{
    worker *w = data;

    (void)fd;
    (void)host;
    w->bound_port = port;
    return 0;
}

static void on_stop(struct ev_loop *loop, ev_async *a, int revents)
{
    (void)a;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *run(void *arg)
{
    worker *w = arg;
    anysock_server_opts so;
    anysock_ctx *ctx = NULL;
    anysock_guard *guard = NULL;
    int rc;

    w->loop = ev_loop_new(EVFLAG_AUTO);
    ev_async_init(&w->stop, on_stop);
    ev_async_start(w->loop, &w->stop);
    anysock_server_opts_init(&so);
    so.flags = ANYSOCK_SERVER_REUSEPORT;   /* every thread, same port */
    rc = anysock_ctx_new(w->loop, NULL, &ctx);
    if (rc == 0)
        rc = anysock_tcp_server_ex(ctx, w->host, w->port, &so, on_accept,
                                   on_listen, w, &guard);
    pthread_mutex_lock(w->mu);
    w->status = rc;
    w->ready = 1;
    pthread_cond_broadcast(w->cv);
    pthread_mutex_unlock(w->mu);
    if (rc == 0)
        ev_run(w->loop, 0);
    anysock_guard_cancel(&guard);
    anysock_ctx_free(ctx);
    ev_async_stop(w->loop, &w->stop);
    return NULL;
}

static int start(worker *w)
{
    pthread_mutex_lock(w->mu);
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        pthread_mutex_unlock(w->mu);
        return -1;
    }
    while (!w->ready)
        pthread_cond_wait(w->cv, w->mu);
    pthread_mutex_unlock(w->mu);
    return w->status;
}

int main(int argc, char **argv)
{
    static worker ws[MAX_THREADS];
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    sigset_t set;
    int n, i, sig, rc = 0, started = 0;

    if (argc != 4 || (n = atoi(argv[1])) < 1 || n > MAX_THREADS) {
        fprintf(stderr, "usage: reuseport_threads N(1-%d) HOST PORT\n",
                MAX_THREADS);
        return 2;
    }
    /* Signals go to this thread only (sigwait below); the workers
     * inherit the blocked mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < n; i++) {
        ws[i].id = i;
        ws[i].host = argv[2];
        ws[i].mu = &mu;
        ws[i].cv = &cv;
        /* the first thread learns the port; the others join it */
        snprintf(ws[i].port, sizeof ws[i].port, "%s",
                 i == 0 ? argv[3] : ws[0].port);
        if (i == 0 && strlen(argv[3]) >= sizeof ws[0].port) {
            fprintf(stderr, "bad port %s\n", argv[3]);
            return 2;
        }
        rc = start(&ws[i]);
        started++;
        if (rc < 0) {
            fprintf(stderr, "thread %d: %s\n", i, anysock_strerror(rc));
            break;
        }
        if (i == 0)
            snprintf(ws[0].port, sizeof ws[0].port, "%u",
                     ws[0].bound_port);
    }
    if (rc == 0) {
        printf("listening %s %s\n", argv[2], ws[0].port);
        fflush(stdout);
        sigwait(&set, &sig);
    }
    for (i = 0; i < started; i++) {
        ev_async_send(ws[i].loop, &ws[i].stop);
        pthread_join(ws[i].thread, NULL);
        ev_loop_destroy(ws[i].loop);
        if (rc == 0)
            printf("thread %d served %u\n", i, ws[i].served);
    }
    return rc == 0 ? 0 : 1;
}
