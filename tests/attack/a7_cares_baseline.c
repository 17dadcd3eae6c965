/* Baseline for the "dead first server" case: plain c-ares 1.18
 * (ares_getaddrinfo, AF_UNSPEC, default timeout 2 s / 3 tries) for N names
 * against ARGV[2] ("127.0.0.54:5301,127.0.0.53:5301"), blocking select loop.
 * usage: a7_cares_baseline N SERVERS */
#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <time.h>
static int done, ok;
static void cb(void *arg, int st, int timeouts, struct ares_addrinfo *r)
{ (void)arg; (void)timeouts; done++; if (st == ARES_SUCCESS) ok++; ares_freeaddrinfo(r); }
int main(int argc, char **argv)
{
    int n = atoi(argv[1]), i; ares_channel ch; char name[64];
    struct timespec a, b;
    ares_library_init(ARES_LIB_INIT_ALL);
    ares_init(&ch); ares_set_servers_ports_csv(ch, argv[2]);
    struct ares_addrinfo_hints h = {0}; h.ai_family = AF_UNSPEC;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < n; i++) { snprintf(name, sizeof name, "n%d.example.test", i); ares_getaddrinfo(ch, name, "80", &h, cb, NULL); }
    for (;;) {
        fd_set r, w; FD_ZERO(&r); FD_ZERO(&w);
        int nfds = ares_fds(ch, &r, &w); if (nfds == 0) break;
        struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
        select(nfds, &r, &w, NULL, tvp); ares_process(ch, &r, &w);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("c-ares: %d names, done %d ok %d in %.3fs\n", n, done, ok, (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
