/* identity.c -- component identities on disk (format in identity.h). */
#include "crypto/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"

#define IDENTITY_MAX_FILE 4096

#define fail(code, err, errlen, ...) ds_seterr(err, errlen, code, __VA_ARGS__)

void identity_uuid_v4(char out[37]) {
    static const char digits[] = "0123456789abcdef";
    uint8_t b[16];
    crypto_nonce(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = digits[b[i] >> 4];
        *o++ = digits[b[i] & 15];
    }
    *o = 0;
}

void identity_wipe(ds_identity *id) {
    crypto_wipe(id, sizeof *id);
}

/* The directory part of path ("." if none), in buf. */
static void dir_of(const char *path, char *buf, size_t buflen) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, buflen, ".");
    else if (slash == path)
        snprintf(buf, buflen, "/");
    else
        snprintf(buf, buflen, "%.*s", (int)(slash - path), path);
}

static int fsync_dir(const char *path) {
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Creates a fresh 0600 file next to path holding data, fsynced and closed.
 * Its name is left in tmp. Returns 0 or -1 (errno set, nothing left). */
static int write_temp(const char *path, const void *data, size_t len, char *tmp, size_t tmplen) {
    uint8_t r[8];
    crypto_nonce(r, sizeof r);
    snprintf(tmp, tmplen, "%s.tmp.%ld.%02x%02x%02x%02x%02x%02x%02x%02x", path, (long)getpid(), r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    /* The umask can only take bits away; make sure it is exactly 0600. */
    if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int identity_write_secret_file(const char *path, const void *data, size_t len, char *err,
                               size_t errlen) {
    char tmp[4200];
    if (write_temp(path, data, len, tmp, sizeof tmp) != 0)
        return fail(DS_EIO, err, errlen, "cannot write a temporary file next to %s: %s", path,
                    strerror(errno));
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return fail(DS_EIO, err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    if (fsync_dir(path) != 0)
        return fail(DS_EIO, err, errlen, "cannot fsync the directory of %s: %s", path,
                    strerror(errno));
    return DS_OK;
}

static int is_uuid(const char *s) {
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* Parses the file's text (format in identity.h) into *out. */
static int parse_identity(const char *text, size_t len, ds_identity *out) {
    /* "uuid " 36 "\n" "key " 64 ["\n"] */
    const size_t l1 = 5 + 36 + 1, l2 = 4 + 64;
    if (len != l1 + l2 && len != l1 + l2 + 1) return DS_ECORRUPT;
    if (memcmp(text, "uuid ", 5) || !is_uuid(text + 5) || text[41] != '\n') return DS_ECORRUPT;
    if (memcmp(text + l1, "key ", 4)) return DS_ECORRUPT;
    if (len == l1 + l2 + 1 && text[len - 1] != '\n') return DS_ECORRUPT;
    if (crypto_unhex(out->key, sizeof out->key, text + l1 + 4, 64) != DS_OK) return DS_ECORRUPT;
    memcpy(out->uuid, text + 5, 36);
    out->uuid[36] = 0;
    return DS_OK;
}

static int load(int fd, const char *path, ds_identity *out, char *err, size_t errlen) {
    struct stat st;
    char text[IDENTITY_MAX_FILE];
    size_t len = 0;
    int rc;

    if (fstat(fd, &st) != 0)
        return fail(DS_EIO, err, errlen, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(DS_ECORRUPT, err, errlen, "identity file %s is not a regular file", path);
    if (st.st_mode & 077)
        return fail(DS_EFORBIDDEN, err, errlen,
                    "identity file %s holds a secret key but is accessible by group or others "
                    "(mode %04o); run: chmod 600 %s",
                    path, (unsigned)(st.st_mode & 07777), path);
    for (;;) {
        ssize_t n = read(fd, text + len, sizeof text - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = fail(DS_EIO, err, errlen, "cannot read %s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len == sizeof text) break;
    }
    rc = parse_identity(text, len, out);
    if (rc)
        fail(rc, err, errlen,
             "identity file %s is malformed: expected \"uuid <uuid>\\nkey <64 hex digits>\\n\"",
             path);
done:
    crypto_wipe(text, sizeof text);
    return rc;
}

/* Makes a new identity and links it into place; DS_EEXIST if someone else
 * created path first. */
static int create(const char *path, ds_identity *out, char *err, size_t errlen) {
    char text[160], tmp[4200];
    ds_identity id;
    ds_buf hex = DS_BUF_INIT;
    int rc = DS_OK;

    identity_uuid_v4(id.uuid);
    crypto_random(id.key, sizeof id.key);
    crypto_hex(&hex, id.key, sizeof id.key);
    int n = snprintf(text, sizeof text, "uuid %s\nkey %s\n", id.uuid, hex.data);
    crypto_wipe(hex.data, hex.len);
    ds_buf_free(&hex);

    if (write_temp(path, text, (size_t)n, tmp, sizeof tmp) != 0) {
        rc = fail(DS_EIO, err, errlen, "cannot create an identity file next to %s: %s", path,
                  strerror(errno));
        goto done;
    }
    /* link() never replaces: exactly one creator wins, and path is complete
     * the moment it exists. */
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        rc = e == EEXIST ? DS_EEXIST
                         : fail(DS_EIO, err, errlen, "cannot create %s: %s", path, strerror(e));
        goto done;
    }
    unlink(tmp);
    if (fsync_dir(path) != 0) {
        rc = fail(DS_EIO, err, errlen, "cannot fsync the directory of %s: %s", path,
                  strerror(errno));
        goto done;
    }
    *out = id;
done:
    crypto_wipe(text, sizeof text);
    identity_wipe(&id);
    return rc;
}

int identity_load_or_create(const char *path, ds_identity *out, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            int rc = load(fd, path, out, err, errlen);
            close(fd);
            return rc;
        }
        if (errno != ENOENT)
            return fail(DS_EIO, err, errlen, "cannot open %s: %s", path, strerror(errno));
        int rc = create(path, out, err, errlen);
        if (rc != DS_EEXIST) return rc;
        /* Lost a race with another creator: load theirs. */
    }
    return fail(DS_EIO, err, errlen, "cannot create or load %s", path);
}
