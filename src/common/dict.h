/* dict.h -- a hash table from byte-string keys to pointers.
 *
 * Chained, power-of-two sized, grown when the load passes 1. Keys are copied
 * into the table; values are borrowed (the caller owns what they point to).
 * Not thread-safe: callers hold their own lock. Iteration order is
 * unspecified. Hash: FNV-1a 64, which is plenty for trusted metadata keys.
 */
#ifndef DS_DICT_H
#define DS_DICT_H

#include "common/ds.h"

typedef struct dict dict;

dict *dict_new(void);
/* Frees the table and its copied keys (not the values). */
void dict_free(dict *d);
/* Returns the value for key, or NULL. */
void *dict_get(const dict *d, const void *key, size_t len);
/* Sets key to value; returns the previous value or NULL. */
void *dict_set(dict *d, const void *key, size_t len, void *value);
/* Removes key; returns its value or NULL. */
void *dict_del(dict *d, const void *key, size_t len);
size_t dict_count(const dict *d);
/* Calls fn for every entry until it returns non-zero; returns that value. */
int dict_each(const dict *d, int (*fn)(const void *key, size_t len, void *value, void *ud),
              void *ud);

#endif
