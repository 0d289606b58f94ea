/* registry.c -- a node's registration in etcd, on a lease kept alive in the
 * background (see registry.h). */
#include "control/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/json.h"

struct registry {
    etcd *e;
    char key[128];
    ds_buf value;
    int ttl_s;
    etcd_keeper *keeper;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping, lost;
    atomic_int registered;
};

static void on_lost(void *ud) {
    registry *r = ud;
    pthread_mutex_lock(&r->mu);
    r->lost = 1;
    atomic_store(&r->registered, 0);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Grants a lease (kept alive by a keeper) and writes the record on it. */
static int join_once(registry *r, char *err, size_t errlen) {
    int64_t lease = 0;
    etcd_keeper *k = NULL;
    int rc = etcd_keeper_start(r->e, r->ttl_s, on_lost, r, &k, &lease);
    if (rc) return ds_seterr(err, errlen, rc, "cannot get a lease from etcd: %s", ds_strerror(rc));
    rc = etcd_put(r->e, r->key, strlen(r->key), r->value.data, r->value.len, lease, NULL);
    if (rc) {
        etcd_keeper_stop(k, 1);
        return ds_seterr(err, errlen, rc, "cannot write %s to etcd: %s", r->key, ds_strerror(rc));
    }
    r->keeper = k;
    atomic_store(&r->registered, 1);
    return DS_OK;
}

/* Waits for a lost lease (or the stop), then joins again, retrying each second. */
static void *registry_main(void *arg) {
    registry *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->lost && !r->stopping) pthread_cond_wait(&r->cv, &r->mu);
        if (r->stopping) break;
        pthread_mutex_unlock(&r->mu);
        ds_warn("registry: lease of %s lost; joining again", r->key);
        etcd_keeper_stop(r->keeper, 0);
        r->keeper = NULL;
        char err[256];
        int rc = join_once(r, err, sizeof err);
        pthread_mutex_lock(&r->mu);
        if (rc == DS_OK) {
            r->lost = 0;
            ds_info("registry: %s registered again", r->key);
            continue;
        }
        ds_warn("registry: %s", err);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&r->cv, &r->mu, &until);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int registry_join(etcd *e, const char *uuid, const char *uri, int ttl_s, registry **out, char *err,
                  size_t errlen) {
    registry *r = ds_calloc(1, sizeof *r);
    r->e = e;
    r->ttl_s = ttl_s > 0 ? ttl_s : 10;
    snprintf(r->key, sizeof r->key, "node/%s/details", uuid);
    ds_buf_puts(&r->value, "{\"status\":\"okay\",\"uri\":");
    json_write_string(&r->value, uri, strlen(uri));
    ds_buf_printf(&r->value, ",\"version\":\"%s\",\"started\":%lld}", DSTORE_VERSION,
                  (long long)ds_wall_ms());
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    int rc = join_once(r, err, errlen);
    if (rc == DS_OK && pthread_create(&r->thread, NULL, registry_main, r)) {
        etcd_keeper_stop(r->keeper, 1);
        rc = ds_seterr(err, errlen, DS_EIO, "cannot start the registry thread");
    }
    if (rc) {
        ds_buf_free(&r->value);
        ds_free(r);
        return rc;
    }
    pthread_setname_np(r->thread, "ds-registry");
    *out = r;
    return DS_OK;
}

void registry_leave(registry *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    if (r->keeper) etcd_keeper_stop(r->keeper, 1); /* revoke: the record goes at once */
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    ds_buf_free(&r->value);
    ds_free(r);
}

int registry_registered(const registry *r) {
    return atomic_load(&((registry *)r)->registered);
}
