/* The per-context TTL cache of raw DNS answers (cache.c), for resolver.c.
 * Keyed by (name as queried, lowercased; type); an entry is the reply as
 * the engine delivered it, replayed through the same parsing. */
#ifndef ANYSOCK_CACHE_H
#define ANYSOCK_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct anysock__cache anysock__cache;

/* max entries (> 0); caps in seconds. Returns 0 or -ENOMEM. */
int anysock__cache_new(size_t max, double max_ttl, double max_neg,
                       anysock__cache **out);
void anysock__cache_free(anysock__cache *c);
/* Drop every entry (the servers changed). Counters stay. */
void anysock__cache_clear(anysock__cache *c);
/* 1 and the stored c-ares status and reply (borrowed until the next put
 * or clear; a get only ever removes its own key), or 0 (a miss, counted;
 * an expired entry is dropped). */
int anysock__cache_get(anysock__cache *c, const char *name, int type,
                       int *status, const unsigned char **abuf, int *alen);
/* Keep a reply for its TTL (see anysock__cache_ttl); replaces the key's
 * entry; at the bound the least recently used entry goes. No-op when the
 * reply is not cacheable or memory is short. */
void anysock__cache_put(anysock__cache *c, const char *name, int type,
                        int status, const unsigned char *abuf, int alen);
/* Seconds a reply may be kept, capped; -1 when it must not be (TTL 0, a
 * failure, a negative answer without SOA, an unparseable reply). */
double anysock__cache_ttl(const anysock__cache *c, int type, int status,
                          const unsigned char *abuf, int alen);
void anysock__cache_stats(const anysock__cache *c, uint64_t *hits,
                          uint64_t *misses, uint64_t *evictions);
size_t anysock__cache_size(const anysock__cache *c);

#endif
