/* hedns as a program, for scripts (tests/harness/cli_he.sh): prints
 * "127.0.0.1:PORT" on stdout, then serves until SIGTERM or SIGINT. */
#include "hedns.h"

#include <signal.h>
#include <stdio.h>

int main(void)
{
    char server[32];
    sigset_t set;
    hedns *h;
    int sig;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* blocked before the thread starts, so only sigwait sees them */
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (hedns_start(&h, server, sizeof server) < 0)
        return 1;
    printf("%s\n", server);
    fflush(stdout);
    sigwait(&set, &sig);
    hedns_stop(h);
    return 0;
}
