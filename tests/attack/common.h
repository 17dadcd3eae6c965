/* shared helpers for the attack programs (not part of the library) */
#define _GNU_SOURCE
#include <anysock.h>
#include <ev.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* longest loop iteration: time from ev_check (woke up) to next ev_prepare */
static double it_start, it_max;
static void chk_cb(struct ev_loop *l, ev_check *w, int r) { (void)l; (void)w; (void)r; it_start = mono(); }
static void prp_cb(struct ev_loop *l, ev_prepare *w, int r)
{
    (void)l; (void)w; (void)r;
    if (it_start > 0 && mono() - it_start > it_max) it_max = mono() - it_start;
}
static ev_check g_chk; static ev_prepare g_prp;
static void watch_iterations(struct ev_loop *loop)
{
    ev_check_init(&g_chk, chk_cb); ev_prepare_init(&g_prp, prp_cb);
    ev_check_start(loop, &g_chk); ev_prepare_start(loop, &g_prp);
    ev_unref(loop); ev_unref(loop);
}

/* a listening TCP socket on 127.0.0.1 (or ::1), returns port */
static int listener(int family, int *fdp)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_storage ss; socklen_t sl;
    memset(&ss, 0, sizeof ss);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET) {
        struct sockaddr_in *s = (void *)&ss; s->sin_family = AF_INET;
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK); sl = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (void *)&ss; s->sin6_family = AF_INET6;
        s->sin6_addr = in6addr_loopback; sl = sizeof *s;
    }
    if (bind(fd, (void *)&ss, sl) < 0 || listen(fd, 128) < 0) { perror("listener"); exit(2); }
    sl = sizeof ss; getsockname(fd, (void *)&ss, &sl);
    *fdp = fd;
    return family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                             : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}
