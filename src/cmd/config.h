/* config.h -- dStore's settings: every flag is also a DSTORE_* environment
 * variable and a key of the config file.
 *
 * Precedence: command-line flag > environment > config file > default.
 * The config file (--config FILE, or DSTORE_CONFIG) has lines `key = value`
 * with the flag's name without dashes (`admin-token = s3cret`); `#` starts a
 * comment. Sizes take K, M, G suffixes (powers of 1024).
 */
#ifndef DS_CONFIG_H
#define DS_CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef struct ds_config {
    char listen[256];       /* HOST:PORT */
    char data[4096];        /* data directory */
    char config[4096];      /* the config file read, if any */
    char admin_token[256];
    char dev_access_key[32];
    char dev_secret_key[64];
    char location[64];      /* {location} of resource IDs */
    char log_level[16];
    char durability[16];    /* "fsync" (default) or "process" */
    char etcd[1024];        /* etcd endpoints (cluster roles) */
    char etcd_prefix[256];  /* the cluster's key prefix in etcd */
    char advertise[512];    /* the URL other components reach this one at */
    long threads;           /* HTTP event loops; 0 = one per CPU */
    long max_inflight;
    uint64_t max_memory;
    uint64_t max_disk;
    uint64_t cache_size;    /* RocksDB block cache */
    uint64_t item_cache_size; /* engine/itemcache.h; 0 = none */
    long retry_after;       /* seconds, in 503 answers */
    long lease_ttl;         /* seconds: a node unheard of this long is gone */
    char cluster_key[4096]; /* file of the cluster's shared secret (cluster roles) */
    long replication_factor; /* control: replicas per range */
    long ranges_per_table;  /* control: ranges a new table starts with */
    long replication_timeout; /* node: ms a follower has to acknowledge */
    uint64_t split_bytes;   /* node: a led range this big splits (0: never) */
    int import_serve_data;  /* node: import the serve store found in DATA (cluster/import.h) */
    int help;
} ds_config;

/* Fills cfg from defaults, the config file, the environment and argv (the
 * arguments after the subcommand). Returns 0, or -1 with a message in err. */
int config_load(ds_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Prints the options with their defaults and environment variables. */
void config_usage(FILE *out);

#endif
