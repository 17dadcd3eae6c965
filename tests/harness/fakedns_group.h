/* One fake DNS responder for a whole cmocka group, for the connection
 * tests: their names come from hosts files, which 7.17 reads only after
 * DNS found nothing, and the responder answers NXDOMAIN at once for "nx.*"
 * names. dns_server is its address for anysock_config.dns_servers.
 * Include once, in a test file that includes cmocka. */
#ifndef FAKEDNS_GROUP_H
#define FAKEDNS_GROUP_H

#include "fakedns.h"

static fakedns *dns;
static char dns_server[32];

static int fakedns_group_setup(void **state)
{
    (void)state;
    return fakedns_start_server(&dns, dns_server, sizeof dns_server) < 0 ? -1
                                                                        : 0;
}

static int fakedns_group_teardown(void **state)
{
    (void)state;
    fakedns_stop(dns);
    return 0;
}

#endif
