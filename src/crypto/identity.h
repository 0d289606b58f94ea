/* identity.h -- the UUID and 256-bit key every dStore component owns.
 *
 * Seed 001: every proxy, control plane and node (and "node per control
 * plane", "tenant per node", ...) has a UUID and a 256-bit AES key. A
 * component keeps its own identity in a small file under its data
 * directory, created on first start and read on every later one. The file
 * holds a secret, so it is created 0600 and refused if group or others can
 * read or write it (as ssh does with private keys).
 *
 * ---- The identity file -------------------------------------------------
 *
 *   LINE  CONTENT                 DESCRIPTION
 *   1     "uuid " <36 chars> "\n"  RFC 4122 UUID, lowercase, 8-4-4-4-12
 *   2     "key " <64 hex> "\n"     the 32-byte key, lowercase hex
 *
 * Nothing else is allowed (a missing final newline is tolerated). The file
 * is written to a temporary name (O_CREAT|O_EXCL, 0600), fsynced, then
 * hard-linked to its final name, which fails if the name exists -- so a
 * crash never leaves a half-written identity, and two processes starting at
 * once end up with the same identity. The directory is fsynced after.
 */
#ifndef DS_IDENTITY_H
#define DS_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "common/ds.h"

typedef struct ds_identity {
    char uuid[37];   /* NUL-terminated lowercase UUID */
    uint8_t key[32]; /* secret: wipe with identity_wipe() */
} ds_identity;

/* Writes a random (version 4, RFC 4122) UUID, lowercase, NUL-terminated. */
void identity_uuid_v4(char out[37]);

/* Loads the identity stored at path, or creates one there if the file does
 * not exist. Returns DS_OK with *out filled; or, with a message in err:
 *   DS_EFORBIDDEN  the file is readable or writable by group or others
 *                  (the message says to chmod 600 it);
 *   DS_ECORRUPT    the file is not in the format above;
 *   DS_EIO         the file or its directory could not be read or written.
 * err (errlen bytes, may be NULL/0) is always NUL-terminated when given. */
int identity_load_or_create(const char *path, ds_identity *out, char *err, size_t errlen);

/* Replaces the file at path with data[0..len), atomically: a temporary file
 * in the same directory (0600), fsync, rename over path, fsync of the
 * directory. Readers see the old content or the new, never a mix. Returns
 * DS_OK or DS_EIO with a message in err. */
int identity_write_secret_file(const char *path, const void *data, size_t len, char *err,
                               size_t errlen);

/* Zeroes the whole identity (key included). */
void identity_wipe(ds_identity *id);

#endif
