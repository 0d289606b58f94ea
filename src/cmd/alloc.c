/* alloc.c -- the process's memory allocator.
 *
 * dStore links jemalloc (Makefile: MALLOC=jemalloc, the default). The reason
 * is RocksDB's block cache: its blocks (~11.5 KiB data blocks of varying size,
 * index blocks of ~80 KiB, filter blocks of up to 2 MiB) are allocated and
 * freed all the time, interleaved with everything else, and glibc's malloc
 * kept the holes between live blocks: its free memory grew by ~8 MB per
 * million items stored and did not level off (92 MB at 10M items, 171 MB at
 * 20M, beside a 256 MiB cache). jemalloc's size classes and per-size slabs
 * keep it flat (bench/results/2026-11-24-session7.md: the part of resident
 * memory outside the cache and the memtables 89 MB at 3M items, 86 MB at
 * 10M). Freed pages go back to the kernel after ten seconds unused
 * (dirty_decay_ms), given back by jemalloc's own background thread, not by
 * whichever thread happens to free: without it (session 5) purging ran in
 * request threads, with p99s of half a second. Not sooner: a flushed
 * memtable's blocks are reused by the next memtables within seconds, and
 * with a one-second decay they were given back first and faulted in again,
 * 4 KB puts 26% slower. Two arenas: one per core would keep more free memory.
 * MALLOC_CONF in the environment adds to or overrides these settings.
 *
 * MALLOC=glibc builds without jemalloc (make asan does: the sanitizers bring
 * their own allocator); glibc then gets one arena, for the same reason:
 * with an arena per thread each kept, free, what it once held for the cache.
 */
#include "cmd/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DS_JEMALLOC
#include <jemalloc/jemalloc.h>

const char *malloc_conf = "background_thread:true,narenas:2,dirty_decay_ms:10000,muzzy_decay_ms:0";

void alloc_setup(void) {
}

static size_t size_stat(const char *name) {
    size_t v = 0, sz = sizeof v;
    return mallctl(name, &v, &sz, NULL, 0) ? 0 : v;
}

void alloc_describe(char *buf, size_t n) {
    const char *version = "?";
    size_t sz = sizeof version;
    _Bool bg = 0;
    size_t bsz = sizeof bg;
    mallctl("version", &version, &sz, NULL, 0);
    mallctl("background_thread", &bg, &bsz, NULL, 0);
    snprintf(buf, n, "jemalloc %.*s, %s", (int)strcspn(version, "-"), version,
             bg ? "background purging" : "purging in the freeing threads");
}

void alloc_get_stats(alloc_stats *out) {
    uint64_t epoch = 1;
    size_t sz = sizeof epoch;
    mallctl("epoch", &epoch, &sz, &epoch, sz); /* refreshes the statistics */
    size_t allocated = size_stat("stats.allocated"), resident = size_stat("stats.resident");
    out->in_use = allocated;
    out->free_resident = resident > allocated ? resident - allocated : 0;
    out->mapped = size_stat("stats.mapped");
}

#else
#include <malloc.h>

void alloc_setup(void) {
    if (getenv("MALLOC_ARENA_MAX") || getenv("GLIBC_TUNABLES")) return;
    mallopt(M_ARENA_MAX, 1);
}

void alloc_describe(char *buf, size_t n) {
    snprintf(buf, n, "glibc malloc, %s",
             getenv("MALLOC_ARENA_MAX") || getenv("GLIBC_TUNABLES") ? "arenas as the environment says"
                                                                   : "one arena");
}

void alloc_get_stats(alloc_stats *out) {
    struct mallinfo2 mi = mallinfo2(); /* walks malloc's free lists under its lock */
    out->in_use = mi.uordblks + mi.hblkhd;
    out->free_resident = mi.fordblks;
    out->mapped = mi.arena + mi.hblkhd;
}
#endif
