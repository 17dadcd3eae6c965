/* ares_getaddrinfo for n<i>.<zone>, i < N, one at a time, as the bench's
 * c-ares peer asks (AF_UNSPEC, ARES_AI_NOSORT, lookups "b"): run by
 * count_queries.sh, which counts what reaches dnsmasq. */
#include <ares.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

static int done;

static void cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)arg;
    (void)timeouts;
    if (status != ARES_SUCCESS)
        fprintf(stderr, "%s\n", ares_strerror(status));
    ares_freeaddrinfo(res);
    done++;
}

int main(int argc, char **argv)
{
    ares_channel ch;
    struct ares_options o;
    int n;

    if (argc != 4) {
        fprintf(stderr, "usage: cares_queries SERVER:PORT ZONE N\n");
        return 2;
    }
    n = atoi(argv[3]);
    memset(&o, 0, sizeof o);
    o.lookups = (char *)"b";
    ares_library_init(ARES_LIB_INIT_ALL);
    if (ares_init_options(&ch, &o, ARES_OPT_LOOKUPS) != ARES_SUCCESS ||
        ares_set_servers_ports_csv(ch, argv[1]) != ARES_SUCCESS)
        return 1;
    for (int i = 0; i < n; i++) {
        struct ares_addrinfo_hints h = { .ai_flags = ARES_AI_NOSORT,
                                         .ai_family = AF_UNSPEC,
                                         .ai_socktype = SOCK_STREAM };
        char name[128];

        snprintf(name, sizeof name, "n%d.%s", i, argv[2]);
        ares_getaddrinfo(ch, name, NULL, &h, cb, NULL);
        while (done <= i) {
            fd_set r, w;
            struct timeval tv, *tvp;
            int nfds;

            FD_ZERO(&r);
            FD_ZERO(&w);
            nfds = ares_fds(ch, &r, &w);
            tvp = ares_timeout(ch, NULL, &tv);
            select(nfds, &r, &w, NULL, tvp);
            ares_process(ch, &r, &w);
        }
    }
    ares_destroy(ch);
    ares_library_cleanup();
    return 0;
}
