/* replication_int.h -- what the files of the replication module share
 * (replication.c: ranges, hooks, shipping, the ticker; replication_catchup.c:
 * both sides of catch-up; replication_split.c: size checks and splits by
 * size; replication_http.c: the /internal/v1/ endpoints).
 *
 * Locking: one mutex, repl.mu, guards every field below except those marked
 * "writer": those are touched only on the writer thread (hooks and CALL
 * ops). Never call etcd, peer_call or replica_run while holding mu. Lock
 * order: repl.mu, then the range map's own lock (rangemap_find).
 */
#ifndef DS_REPLICATION_INT_H
#define DS_REPLICATION_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "cluster/replication.h"
#include "common/dict.h"
#include "engine/engine.h"

/* A follower as its leader sees it, per range. */
enum {
    FOL_INSYNC = 1, /* in the record's inSync: its acks are required */
    FOL_PENDING,    /* caught up, being added to inSync: required already */
    FOL_CATCHUP,    /* catching up: gets live sections, acks not required */
    FOL_REMOVING,   /* failed; removal from inSync under way: still required */
};

typedef struct lfol {
    char uuid[RANGE_UUID_LEN];
    int state;
    uint64_t acked;   /* highest seq it acknowledged */
    uint64_t session; /* its catch-up session (0 if none) */
    uint64_t target;  /* PENDING: acked must reach this before the cas */
    uint64_t since_ms;
} lfol;

typedef struct waiter {
    ds_op *op;
    uint64_t seq; /* complete once every required follower acked this */
    uint64_t t_ms;
} waiter;

/* This node's copy of a range. */
enum {
    FS_OK = 0,   /* complete; follows (or leads) */
    FS_WAIT,     /* catch-up asked for; only sections of `session` accepted */
    FS_CATCHUP,  /* reset done, snapshot being pulled */
    FS_BROKEN,   /* incomplete: needs a reset catch-up */
    FS_REMOVED,  /* not a replica any more: copy deleted */
};

typedef struct rrange rrange;
struct rrange {
    uint64_t table;
    uint32_t low, high;
    char tenant[65], tname[256]; /* from the range map (named) */
    int named;
    /* position of the copy, as committed */
    uint64_t last_epoch, last_seq;
    int incomplete;               /* the r/ flag */
    uint64_t known_epoch;         /* highest epoch seen (map, messages) */
    int fstate;
    uint64_t session;             /* FS_WAIT, FS_CATCHUP */
    int reset;                    /* FS_WAIT after a reset: adopt the first prev */
    int adopted;
    uint64_t base_epoch, base_seq;
    dict *touched;                /* writer: keys written live during a catch-up */
    int catchup;                  /* a catch-up thread runs for it */
    uint64_t retry_at_ms;         /* no catch-up before this */
    int retry_ms;                 /* the next failure's backoff (doubles to 10 s) */
    /* writer: the group being evaluated */
    int in_group;
    rrange *gnext;
    uint64_t t_epoch, t_seq;      /* tentative position */
    int g_lead, g_follow;
    uint64_t g_epoch;             /* the epoch the group's writes were admitted at */
    size_t g_nmuts;
    /* leader */
    int leading;
    uint64_t lead_epoch;
    int fenced;                   /* deposed: refuse until a new epoch names us */
    range_rec rec;                /* the record we lead by (its mod_rev for cas) */
    lfol fol[RANGE_MAX_REPLICAS];
    int nfol;
    waiter *w;
    size_t wh, wn, wcap;          /* FIFO: w[wh .. wn) */
    uint64_t grown;               /* bytes shipped since the last size check */
    int paused;                   /* a split by size is under way: admit refuses its
                                     writes (replication_split.c) */
    /* status record in etcd */
    char st_status[16];
    uint64_t st_seq, st_ms;
    int st_written;
};

/* A section body shared by the items of every follower it goes to. */
typedef struct sbody {
    atomic_int refs;
    uint32_t nmuts;
    ds_buf b;
} sbody;

typedef struct sitem {
    struct sitem *next;
    rrange *rr;
    uint32_t high; /* rr->high when queued: the bounds its keys were admitted under
                      (a split may cut rr before the sender sends it) */
    uint64_t session, epoch, prev_epoch, prev_seq, seq;
    sbody *body; /* NULL: a probe */
    uint64_t t_ms;
} sitem;

typedef struct rpeer {
    struct rpeer *next;
    char uuid[RANGE_UUID_LEN];
    struct repl *rp;
    pthread_t th;
    pthread_cond_t cv;
    sitem *head, *tail;
    int started;
} rpeer;

/* A leader's catch-up session (a registered follower and its snapshot). */
typedef struct rsession {
    struct rsession *next;
    uint64_t id;
    rrange *rr;
    char uuid[RANGE_UUID_LEN];
    engine_snapshot *snap; /* NULL for a resume */
    uint64_t used_ms;
    int busy;
} rsession;

/* The result of apply_check for one section (its replica_section.ud). */
enum { RES_OK = 0, RES_DIVERGED, RES_STALE, RES_NOTREADY, RES_CONFLICT, RES_CANCELLED };
typedef struct rapply {
    const repl_wsection *ws;
    int res;
    uint64_t r_epoch, r_seq; /* Diverged: the follower's position; StaleEpoch: its epoch */
} rapply;

/* A removal from / addition to inSync the ticker must do. */
typedef struct rjob {
    struct rjob *next;
    rrange *rr;
    char uuid[RANGE_UUID_LEN];
    uint64_t epoch;
    int add;
    uint64_t at_ms; /* not before */
    char key[400];  /* the range record's etcd key */
} rjob;

typedef struct rthread {
    struct rthread *next;
    pthread_t th;
    atomic_int finished;
} rthread;

struct repl {
    cluster_member *c;
    repl_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the ticker's */
    pthread_cond_t split_cv; /* a paused range's acks advanced or its copy was cut */
    int stopping;
    dict *ranges;      /* 12 bytes (table u64 BE, low u32 BE) -> rrange */
    rrange *glist;     /* writer: ranges in the current group */
    rpeer *peers;
    rsession *sessions;
    rjob *jobs;
    rthread *threads;  /* catch-up and size-check threads */
    int ncatchups;
    uint64_t size_check_bytes; /* a led range is sized after growing this much (0: never) */
    int sizing;        /* a size check runs (at most one) */
    pthread_t ticker;
    int ticker_started;
    uint64_t map_seen;
};

/* ---- replication.c ---- */
/* Finds (create: creates) the range state. Locked. */
rrange *repl__range(struct repl *rp, uint64_t table, uint32_t low, uint32_t high, int create);
/* Takes the names of rec. Locked. */
void repl__name(rrange *rr, const range_rec *rec);
lfol *repl__fol(rrange *rr, const char *uuid);
/* Queues a probe / a section to follower f of rr. Locked. */
void repl__enqueue(struct repl *rp, rrange *rr, lfol *f, sbody *body, uint64_t prev_epoch,
                   uint64_t prev_seq, uint64_t seq);
/* Drops follower f (not in etcd's inSync: no cas needed). Locked; completes
 * what waited on it into done. */
typedef struct oplist {
    ds_op **v;
    int *st;
    size_t n, cap;
} oplist;
void repl__fol_drop(struct repl *rp, rrange *rr, lfol *f, oplist *done);
void repl__oplist_finish(struct repl *rp, oplist *l);
/* The node's uri, or NULL (the node is not alive). */
int repl__node_uri(struct repl *rp, const char *uuid, char *uri, size_t n);
/* Writes node/{uuid}/id/.../details (status NULL: deletes it). Not locked. */
void repl__status_put(struct repl *rp, const char *tenant, const char *table, uint32_t low,
                      const char *status, uint64_t seq);
/* Runs fn(rp, ud, g) on the writer thread (a DS_OP_CALL) and waits.
 * Returns fn's result, or DS_ESTATE if replication stopped. */
typedef int (*repl_call_fn)(struct repl *rp, void *ud, replica_group *g);
int repl__call(struct repl *rp, repl_call_fn fn, void *ud);
void repl__put_pos(replica_group *g, rrange *rr, uint64_t epoch, uint64_t seq);
/* Cuts the child [high+1, rr->high] off rr at rr's position (see the
 * definition). 0, or -1 when rr is busy in the current group. Locked. */
int repl__split(struct repl *rp, rrange *rr, uint32_t high, uint64_t epoch, int force,
                replica_group *g);
/* Cuts this node's copies as the record rec (a half of a split) says, on the
 * writer thread between two groups (a CALL), so each child starts at its
 * parent's exact position. DS_OK, or DS_ESTATE (replication stopped, or a
 * copy was busy: a later pass). Not locked. */
int repl__split_copy(struct repl *rp, const range_rec *rec);
/* The seq every required follower of rr has acked (UINT64_MAX: none is
 * required). Locked. */
uint64_t repl__frontier(const rrange *rr);
/* "tenant/table/low" (or "table N/low" before the map named it) in buf. Locked. */
const char *repl__range_name(rrange *rr, char *buf, size_t n);

/* Starts fn(arg) on a thread of rp->threads (joined by the ticker once it
 * marks itself finished); *th is set before the thread starts. Locked.
 * NULL if it could not start. */
rthread *repl__thread_start(struct repl *rp, void *(*fn)(void *), void *arg, rthread **th,
                            const char *name);

/* ---- replication_catchup.c ---- */
/* Starts a catch-up thread for rr (locked; at most o.max_catchups). */
void repl__catchup_start(struct repl *rp, rrange *rr, const range_rec *rec);
/* Leader side handlers (HTTP loop thread). */
void repl__catchup_start_handle(struct repl *rp, http_request *req);
void repl__catchup_page_handle(struct repl *rp, http_request *req);
void repl__catchup_done_handle(struct repl *rp, http_request *req);
/* Frees sessions idle for long, or of followers no longer registered. Locked. */
void repl__sessions_gc(struct repl *rp, int all);

/* ---- replication_split.c ---- */
/* Starts a size check of rr, a range this node leads, on its own thread
 * (registered in rp->threads) and resets rr->grown. Locked; !rp->sizing. */
void repl__sizecheck_start(struct repl *rp, rrange *rr);

/* ---- replication_http.c ---- */
void repl__replicate_handle(struct repl *rp, http_request *req);
void repl__reply(http_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
