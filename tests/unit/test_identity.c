/* test_identity.c -- identity files: create, reload, permissions, format,
 * atomic secret writes. Each test works in its own temporary directory. */
#include <fcntl.h>
#include <sys/stat.h>

#include "common/ds.h"
#include "crypto/crypto.h"
#include "crypto/identity.h"
#include "t.h"

static char *tmpdir(void) {
    char tmpl[] = "/tmp/ds_identity_XXXXXX";
    char *d = mkdtemp(tmpl);
    if (!d) T_FAIL("mkdtemp failed");
    return ds_strdup(d);
}

static char *join(const char *dir, const char *name) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_printf(&b, "%s/%s", dir, name);
    return ds_buf_detach(&b, NULL);
}

static void write_file(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) T_FAIL("open %s", path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) T_FAIL("write");
    close(fd);
    chmod(path, mode);
}

static void rm_rf(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) T_FAIL("cleanup failed");
}

static int is_uuid_v4(const char *u) {
    if (strlen(u) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (u[i] != '-') return 0;
        } else if (!strchr("0123456789abcdef", u[i])) {
            return 0;
        }
    }
    return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

TEST(uuid_v4_format_and_uniqueness) {
    char a[37], b[37];
    for (int i = 0; i < 1000; i++) {
        identity_uuid_v4(a);
        CHECK(is_uuid_v4(a));
    }
    identity_uuid_v4(b);
    CHECK(strcmp(a, b) != 0);
}

TEST(create_then_load_gives_same_identity) {
    char *dir = tmpdir(), *path = join(dir, "node.id");
    char err[256];
    ds_identity a, b;
    CHECK_EQ_INT(identity_load_or_create(path, &a, err, sizeof err), DS_OK);
    CHECK(is_uuid_v4(a.uuid));
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 07777, 0600);
    CHECK_EQ_INT(identity_load_or_create(path, &b, err, sizeof err), DS_OK);
    CHECK_EQ_STR(a.uuid, b.uuid);
    CHECK_EQ_MEM(a.key, b.key, 32);
    /* The file is exactly the documented format. */
    char text[200] = {0};
    int fd = open(path, O_RDONLY);
    CHECK(read(fd, text, sizeof text - 1) == 5 + 36 + 1 + 4 + 64 + 1);
    close(fd);
    ds_buf want = DS_BUF_INIT;
    ds_buf_printf(&want, "uuid %s\nkey ", a.uuid);
    crypto_hex(&want, a.key, 32);
    ds_buf_puts(&want, "\n");
    CHECK_EQ_STR(text, want.data);
    /* No temporary files left behind. */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    CHECK_EQ_INT(system(cmd), 0);
    identity_wipe(&a);
    for (size_t i = 0; i < sizeof a.key; i++)
        CHECK_EQ_INT(a.key[i], 0);
    ds_buf_free(&want);
    rm_rf(dir);
}

TEST(two_identities_differ) {
    char *dir = tmpdir(), *p1 = join(dir, "a.id"), *p2 = join(dir, "b.id");
    ds_identity a, b;
    CHECK_EQ_INT(identity_load_or_create(p1, &a, NULL, 0), DS_OK);
    CHECK_EQ_INT(identity_load_or_create(p2, &b, NULL, 0), DS_OK);
    CHECK(strcmp(a.uuid, b.uuid) != 0);
    CHECK(memcmp(a.key, b.key, 32) != 0);
    rm_rf(dir);
}

TEST(world_readable_file_is_refused) {
    char *dir = tmpdir(), *path = join(dir, "node.id");
    char err[512];
    ds_identity a;
    CHECK_EQ_INT(identity_load_or_create(path, &a, err, sizeof err), DS_OK);
    chmod(path, 0644);
    CHECK_EQ_INT(identity_load_or_create(path, &a, err, sizeof err), DS_EFORBIDDEN);
    CHECK(strstr(err, "chmod 600") != NULL);
    CHECK(strstr(err, path) != NULL);
    chmod(path, 0620); /* group-writable */
    CHECK_EQ_INT(identity_load_or_create(path, &a, err, sizeof err), DS_EFORBIDDEN);
    chmod(path, 0400); /* owner read-only is fine */
    CHECK_EQ_INT(identity_load_or_create(path, &a, err, sizeof err), DS_OK);
    rm_rf(dir);
}

TEST(garbage_is_refused) {
    char *dir = tmpdir(), *path = join(dir, "node.id");
    char err[512];
    ds_identity a;
    const char *bad[] = {
        "",
        "hello world\n",
        "uuid 1b4e28ba-2fa1-41d2-883f-0016d3cca427\n",         /* no key */
        "uuid 1b4e28ba-2fa1-41d2-883f-0016d3cca427\nkey 00\n", /* short key */
        "uuid 1b4e28ba-2fa1-41d2-883f-0016d3cca427\nkey "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n", /* not hex */
        "uuid 1b4e28ba_2fa1-41d2-883f-0016d3cca427\nkey "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", /* bad uuid */
        "uuid 1b4e28ba-2fa1-41d2-883f-0016d3cca427\nkey "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\nextra\n",
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(bad); i++) {
        write_file(path, bad[i], 0600);
        CHECK_EQ_INT(identity_load_or_create(path, &a, err, sizeof err), DS_ECORRUPT);
        CHECK(strstr(err, "malformed") != NULL);
    }
    write_file(path,
               "uuid 1b4e28ba-2fa1-41d2-883f-0016d3cca427\nkey "
               "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
               0600); /* no final newline: accepted */
    CHECK_EQ_INT(identity_load_or_create(path, &a, err, sizeof err), DS_OK);
    CHECK_EQ_STR(a.uuid, "1b4e28ba-2fa1-41d2-883f-0016d3cca427");
    CHECK_EQ_INT(a.key[31], 0x1f);
    rm_rf(dir);
}

TEST(missing_directory_is_an_io_error) {
    char err[512];
    ds_identity a;
    CHECK_EQ_INT(identity_load_or_create("/nonexistent-dir-xyz/node.id", &a, err, sizeof err),
                 DS_EIO);
    CHECK(strlen(err) > 0);
}

TEST(write_secret_file_replaces_atomically) {
    char *dir = tmpdir(), *path = join(dir, "secret");
    char err[256];
    write_file(path, "old", 0644);
    CHECK_EQ_INT(identity_write_secret_file(path, "new secret", 10, err, sizeof err), DS_OK);
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 07777, 0600);
    CHECK_EQ_INT(st.st_size, 10);
    char text[32] = {0};
    int fd = open(path, O_RDONLY);
    CHECK_EQ_INT(read(fd, text, sizeof text), 10);
    close(fd);
    CHECK_EQ_STR(text, "new secret");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(identity_write_secret_file("/nonexistent-dir-xyz/s", "x", 1, err, sizeof err),
                 DS_EIO);
    rm_rf(dir);
}

TEST_MAIN()
