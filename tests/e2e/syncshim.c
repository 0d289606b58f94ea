/* syncshim.c -- LD_PRELOAD library for the durability tests: a slow disk,
 * and a record of what of the write-ahead log a power cut could not take
 * back. Built as build/tests/syncshim.so; tests/e2e/test_durability.py
 * loads it into `dstore serve`.
 *
 * It wraps fdatasync() and fsync(). When the file synced is a RocksDB WAL
 * (its name ends in ".log"):
 *   SYNCSHIM_DELAY_MS=N   sleep N ms before the sync (a slow disk, so a
 *                         test can look at the server while a sync runs);
 *   SYNCSHIM_JOURNAL=F    after a successful sync, append "<path> <size>\n"
 *                         to F: that file's first <size> bytes are durable.
 * A test then SIGKILLs the server, cuts every WAL back to its last synced
 * size (a file never synced to nothing), as a power cut would leave it, and
 * checks that every acknowledged write is still there. Anything else the
 * server syncs (table files, MANIFEST) is passed through untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Fills path with fd's file name; returns 1 if it is a WAL file. */
static int wal_path(int fd, char *path, size_t n) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t l = readlink(link, path, n - 1);
    if (l <= 4) return 0;
    path[l] = 0;
    return !strcmp(path + l - 4, ".log");
}

static void before(void) {
    const char *d = getenv("SYNCSHIM_DELAY_MS");
    long ms = d ? atol(d) : 0;
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts)) {
    }
}

static void after(int fd, const char *path) {
    const char *j = getenv("SYNCSHIM_JOURNAL");
    struct stat st;
    if (!j || fstat(fd, &st)) return;
    char line[PATH_MAX + 32];
    int n = snprintf(line, sizeof line, "%s %lld\n", path, (long long)st.st_size);
    int jf = open(j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (jf < 0) return;
    if (write(jf, line, (size_t)n) != n) { /* the test then finds less durable: fails loudly */
    }
    close(jf);
}

static int wrapped(const char *name, int fd) {
    static int (*real_fdatasync)(int), (*real_fsync)(int);
    int (**real)(int) = name[1] == 'd' ? &real_fdatasync : &real_fsync;
    if (!*real) *real = (int (*)(int))dlsym(RTLD_NEXT, name);
    char path[PATH_MAX];
    int wal = wal_path(fd, path, sizeof path);
    if (wal) before();
    int rc = (*real)(fd);
    if (rc == 0 && wal) after(fd, path);
    return rc;
}

int fdatasync(int fd) { return wrapped("fdatasync", fd); }
int fsync(int fd) { return wrapped("fsync", fd); }
