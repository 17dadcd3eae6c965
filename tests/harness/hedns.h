/* A DNS responder for the Happy Eyeballs tests: UDP on 127.0.0.1 (one
 * port), served by its own thread, answering A and AAAA with a delay (or
 * not at all) chosen per family by the question name.
 *
 * The first label is h-<A>-<AAAA>, each spec one of
 *   <ms>   answer after that many milliseconds (0: at once)
 *   x      never answer this family (as a middlebox that drops AAAA)
 *   n      answer at once with no data (NOERROR, no records)
 *   f      answer at once with SERVFAIL
 * The second label picks the addresses:
 *   bh     A 127.0.0.2 (black-holed inside tests/harness/netns.sh)
 *   bh3    A 127.0.0.2 three times (three attempts to a dead address)
 *   anything else: A 127.0.0.1
 * AAAA is always ::1. Any other name or type: NXDOMAIN at once.
 * Example: h-0-3000.x.test: A at once, AAAA 3 s later. */
#ifndef HEDNS_H
#define HEDNS_H

#include <stddef.h>
#include <stdint.h>

typedef struct hedns hedns;

/* Start on 127.0.0.1 and an ephemeral port; server gets "127.0.0.1:PORT"
 * (for anysock_config.dns_servers). Returns 0 or a negated errno. */
int hedns_start(hedns **out, char *server, size_t len);
/* Stop the thread and close every socket. NULL is a no-op. */
void hedns_stop(hedns *h);
/* Questions received so far. */
unsigned hedns_queries(hedns *h);

#endif
