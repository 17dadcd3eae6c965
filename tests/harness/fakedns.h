/* A scriptable DNS responder for fault tests: UDP and TCP on 127.0.0.1,
 * one port, served by its own thread. What it does depends on the first
 * label of the question name:
 *   mute      never answers (UDP or TCP)
 *   servfail  rcode 2          nx       rcode 3 (NXDOMAIN)
 *   refused   rcode 5          bad      a reply cut inside its answer
 *   tc        over UDP an empty reply with TC set; over TCP an A record
 *             127.0.0.61
 *   slow      A 127.0.0.62, sent 150 ms after the query arrived
 *   anything else: A 127.0.0.60 (AAAA and others: no data) */
#ifndef FAKEDNS_H
#define FAKEDNS_H

#include <stdint.h>

typedef struct fakedns fakedns;

/* Returns 0 and the port, or a negated errno. */
int fakedns_start(fakedns **out, uint16_t *port);
/* Stops the thread, closes every socket. */
void fakedns_stop(fakedns *f);
/* Questions received over UDP / TCP, and replies sent (all transports;
 * counted just before the send). */
unsigned fakedns_udp_queries(fakedns *f);
unsigned fakedns_tcp_queries(fakedns *f);
unsigned fakedns_replies(fakedns *f);

#endif
