/* alloc.h -- the process's memory allocator (see alloc.c). */
#ifndef DS_ALLOC_H
#define DS_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Before the first thread starts. */
void alloc_setup(void);

/* "jemalloc 5.3.0, background purging" or "glibc malloc, one arena". */
void alloc_describe(char *buf, size_t n);

/* What the allocator holds: in use by the program, resident but free (kept
 * for reuse, not yet given back), and mapped in all. */
typedef struct alloc_stats {
    uint64_t in_use, free_resident, mapped;
} alloc_stats;
void alloc_get_stats(alloc_stats *out);

#endif
