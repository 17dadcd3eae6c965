/* A DNS responder for the resolver's limit tests, on 127.0.0.1 (UDP and
 * TCP, one port, its own thread). By the first label of the name asked
 * (after any "_x._tcp." prefix):
 *   hz     SRV: over UDP an empty reply with TC set; over TCP a full
 *          64 KiB reply of SRV records, targets t<N>.<rest>, ports 1000+N
 *   t<N>   A / AAAA: TC over UDP; over TCP a full 64 KiB reply of
 *          records (4,094 A or 2,339 AAAA) for that name
 *   hu, u<N>   the same, but every A/AAAA owner name is written out in
 *          full instead of a compression pointer
 *   a6mute     A 127.0.0.80 at once; AAAA never answered
 *   a6servfail A 127.0.0.80; AAAA rcode SERVFAIL
 *   reset  TC over UDP; the TCP connection is reset when the query comes
 *   anything else: NXDOMAIN
 * Every question name received is counted and the last one kept. */
#ifndef FAKEZONE_H
#define FAKEZONE_H

#include <stddef.h>
#include <stdint.h>

typedef struct fakezone fakezone;

/* Returns 0 and writes "127.0.0.1:port" into server, or a negated errno. */
int fakezone_start(fakezone **out, char *server, size_t len);
void fakezone_stop(fakezone *z);
unsigned fakezone_queries(fakezone *z);     /* UDP + TCP questions */
unsigned fakezone_resets(fakezone *z);      /* TCP connections reset */
unsigned fakezone_underscored(fakezone *z); /* questions for "_..." (SRV) */
void fakezone_last_qname(fakezone *z, char *out, size_t outlen);

#endif
