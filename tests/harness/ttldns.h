/* A DNS responder on the test's own libev loop (UDP, one address), for
 * the TTL cache and resolv.conf tests: TTLs, SOA records and held replies
 * by name, and a count of questions per (name, type). It never keeps the
 * loop alive by itself. By the first label:
 *   a<T>        A <addr> with TTL T (AAAA: NODATA, SOA TTL T, MINIMUM T)
 *   c<T>        CNAME (TTL T) to "a<T>." + the rest, then its A (TTL 600)
 *   nx<T>m<M>   NXDOMAIN, SOA in authority with TTL T and MINIMUM M
 *   nd<T>m<M>   NOERROR without answer (NODATA), the same SOA
 *   nxnosoa     NXDOMAIN without SOA
 *   hold...     the reply to "a600" is sent when ttldns_release is called
 *   mute...     never answered
 *   _x._tcp.s<T>.<rest>   SRV (TTL T) 0 0 8080 a<T>.<rest>
 * anything else: NXDOMAIN without SOA. */
#ifndef TTLDNS_H
#define TTLDNS_H

#include <ev.h>
#include <stdint.h>

typedef struct ttldns ttldns;

/* Bind addr (IPv4 text) : port (0: ephemeral); `answer` is the A
 * record's address. Returns 0 and the bound port, or a negated errno. */
int ttldns_start(struct ev_loop *loop, const char *addr, uint16_t port,
                 const char *answer, ttldns **out, uint16_t *bound);
void ttldns_stop(ttldns *d);
/* Every question answered never (1) or as above (0). */
void ttldns_mute(ttldns *d, int on);
/* Send the held replies now. Returns how many. */
int ttldns_release(ttldns *d);
/* Questions received: all, or for one name ("a5.test", no final dot) and
 * type (1 A, 28 AAAA, 33 SRV). */
unsigned ttldns_total(const ttldns *d);
unsigned ttldns_count(const ttldns *d, const char *name, int type);

#endif
