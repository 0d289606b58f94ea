/* ddb_table.c -- DynamoDB table operations: CreateTable, DeleteTable,
 * DescribeTable, ListTables, UpdateTable, DescribeEndpoints.
 *
 * A DynamoDB table is a meta_table whose key schema comes from KeySchema and
 * AttributeDefinitions; its DynamoDB-only settings live in the table's
 * "extra" JSON (meta.h):
 *
 *   {"billing":"PROVISIONED"|"PAY_PER_REQUEST","rcu":N,"wcu":N,"billingAt":ms}
 *
 * Tables created by the REST API have no extra settings and describe as
 * PAY_PER_REQUEST with a hash key "id". Tables become ACTIVE at once.
 * Secondary indexes and streams are not supported yet and are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ddb_int.h"

typedef struct table_settings {
    int on_demand;
    long long rcu, wcu;
    long long billing_at_ms;
} table_settings;

static void load_settings(ddb_req *r, meta_table *tb, table_settings *st) {
    ds_buf b = DS_BUF_INIT;
    meta_table_extra(r->ctx->meta, tb, &b);
    json_value *j;
    char err[64];
    memset(st, 0, sizeof *st);
    st->on_demand = 1;
    if (json_parse(r->a, b.data, b.len, 0, &j, err, sizeof err) == DS_OK) {
        const json_value *bm = json_get(j, "billing"), *rc = json_get(j, "rcu"),
                         *wc = json_get(j, "wcu"), *at = json_get(j, "billingAt");
        if (bm && bm->type == JSON_STRING) st->on_demand = !strcmp(bm->u.str.s, "PAY_PER_REQUEST");
        if (rc && rc->type == JSON_NUMBER) st->rcu = atoll(rc->u.str.s);
        if (wc && wc->type == JSON_NUMBER) st->wcu = atoll(wc->u.str.s);
        if (at && at->type == JSON_NUMBER) st->billing_at_ms = atoll(at->u.str.s);
    }
    ds_buf_free(&b);
}

static void settings_json(ds_buf *b, const table_settings *st) {
    ds_buf_printf(b, "{\"billing\":\"%s\",\"rcu\":%lld,\"wcu\":%lld,\"billingAt\":%lld}",
                  st->on_demand ? "PAY_PER_REQUEST" : "PROVISIONED", st->rcu, st->wcu,
                  st->billing_at_ms);
}

static const char *type_letter(key_type t) { return t == KEY_N ? "N" : t == KEY_B ? "B" : "S"; }

static void epoch_seconds(ds_buf *b, long long ms) {
    ds_buf_printf(b, "%lld.%03lld", ms / 1000, ms % 1000);
}

void ddb_table_description(ddb_req *r, ds_buf *b, meta_table *tb, const char *status) {
    table_settings st;
    load_settings(r, tb, &st);
    ds_buf_puts(b, "{\"AttributeDefinitions\":[{\"AttributeName\":");
    json_write_string(b, tb->pk_name, strlen(tb->pk_name));
    ds_buf_printf(b, ",\"AttributeType\":\"%s\"}", type_letter(tb->pk_type));
    if (tb->sk_type) {
        ds_buf_puts(b, ",{\"AttributeName\":");
        json_write_string(b, tb->sk_name, strlen(tb->sk_name));
        ds_buf_printf(b, ",\"AttributeType\":\"%s\"}", type_letter(tb->sk_type));
    }
    ds_buf_puts(b, "],\"TableName\":");
    json_write_string(b, tb->name, strlen(tb->name));
    ds_buf_puts(b, ",\"KeySchema\":[{\"AttributeName\":");
    json_write_string(b, tb->pk_name, strlen(tb->pk_name));
    ds_buf_puts(b, ",\"KeyType\":\"HASH\"}");
    if (tb->sk_type) {
        ds_buf_puts(b, ",{\"AttributeName\":");
        json_write_string(b, tb->sk_name, strlen(tb->sk_name));
        ds_buf_puts(b, ",\"KeyType\":\"RANGE\"}");
    }
    ds_buf_printf(b, "],\"TableStatus\":\"%s\",\"CreationDateTime\":", status);
    epoch_seconds(b, tb->created_ms);
    ds_buf_printf(b, ",\"ProvisionedThroughput\":{\"NumberOfDecreasesToday\":0,"
                     "\"ReadCapacityUnits\":%lld,\"WriteCapacityUnits\":%lld}",
                  st.on_demand ? 0 : st.rcu, st.on_demand ? 0 : st.wcu);
    ds_buf_printf(b, ",\"TableSizeBytes\":%lld,\"ItemCount\":%lld",
                  (long long)atomic_load(&tb->size_bytes), (long long)atomic_load(&tb->item_count));
    ds_buf tmp = DS_BUF_INIT;
    ds_buf_printf(&tmp, "arn:aws:dynamodb:%s:%s:table/%s", r->ctx->location, tb->tenant->name,
                  tb->name);
    ds_buf_puts(b, ",\"TableArn\":");
    json_write_string(b, tmp.data, tmp.len);
    ds_buf_free(&tmp);
    ds_buf_printf(b, ",\"TableId\":\"%08llx-0000-4000-8000-%012llx\"",
                  (unsigned long long)(tb->created_ms & 0xffffffffu), (unsigned long long)tb->id);
    ds_buf_printf(b, ",\"BillingModeSummary\":{\"BillingMode\":\"%s\"",
                  st.on_demand ? "PAY_PER_REQUEST" : "PROVISIONED");
    if (st.on_demand) {
        ds_buf_puts(b, ",\"LastUpdateToPayPerRequestDateTime\":");
        epoch_seconds(b, st.billing_at_ms ? st.billing_at_ms : tb->created_ms);
    }
    ds_buf_puts(b, "},\"DeletionProtectionEnabled\":false}");
}

/* ---- CreateTable ------------------------------------------------------- */
static int parse_key_type(const json_value *v, key_type *out) {
    if (!v || v->type != JSON_STRING || v->u.str.len != 1) return -1;
    switch (v->u.str.s[0]) {
    case 'S': *out = KEY_S; return 0;
    case 'N': *out = KEY_N; return 0;
    case 'B': *out = KEY_B; return 0;
    }
    return -1;
}

/* Reads BillingMode and ProvisionedThroughput into st (keeping what is not
 * given). Returns 0, or -1 after answering. */
static int parse_billing(ddb_req *r, table_settings *st, int creating) {
    int bad = 0;
    const json_value *bm = ddb_field(r, r->body, "BillingMode", JSON_STRING, &bad);
    if (bad) return -1;
    const json_value *pt = ddb_field(r, r->body, "ProvisionedThroughput", JSON_OBJECT, &bad);
    if (bad) return -1;
    if (bm) {
        if (!strcmp(bm->u.str.s, "PAY_PER_REQUEST")) {
            if (!st->on_demand || creating) st->billing_at_ms = ds_wall_ms();
            st->on_demand = 1;
        } else if (!strcmp(bm->u.str.s, "PROVISIONED"))
            st->on_demand = 0;
        else {
            ddb_invalid(r, "1 validation error detected: Value '%s' at 'billingMode' failed to "
                           "satisfy constraint: Member must satisfy enum value set: "
                           "[PROVISIONED, PAY_PER_REQUEST]",
                        bm->u.str.s);
            return -1;
        }
    }
    if (pt) {
        if (st->on_demand) {
            ddb_invalid(r, "One or more parameter values were invalid: Neither "
                           "ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                           "BillingMode is PAY_PER_REQUEST");
            return -1;
        }
        const json_value *rc = ddb_field(r, pt, "ReadCapacityUnits", JSON_NUMBER, &bad);
        if (bad) return -1;
        const json_value *wc = ddb_field(r, pt, "WriteCapacityUnits", JSON_NUMBER, &bad);
        if (bad) return -1;
        long long rcu = rc ? atoll(rc->u.str.s) : 0, wcu = wc ? atoll(wc->u.str.s) : 0;
        if (!rc || !wc || rcu < 1 || wcu < 1) {
            ddb_invalid(r, "One or more parameter values were invalid: ReadCapacityUnits and "
                           "WriteCapacityUnits must both be specified and at least 1 when "
                           "BillingMode is PROVISIONED");
            return -1;
        }
        st->rcu = rcu, st->wcu = wcu;
    } else if (!st->on_demand && (st->rcu < 1 || st->wcu < 1)) {
        ddb_invalid(r, "One or more parameter values were invalid: ReadCapacityUnits and "
                       "WriteCapacityUnits must both be specified when BillingMode is "
                       "PROVISIONED");
        return -1;
    }
    return 0;
}

static int refuse_unsupported(ddb_req *r, const char *const *params, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const json_value *v = json_get(r->body, params[i]);
        if (v && v->type != JSON_NULL && !(v->type == JSON_ARRAY && v->u.arr.n == 0)) {
            ddb_invalid(r, "%s is not supported by this server yet", params[i]);
            return -1;
        }
    }
    return 0;
}

void ddb_create_table(ddb_req *r) {
    static const char *const unsupported[] = {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"};
    const json_value *name = json_get(r->body, "TableName");
    int bad = 0;
    if (!ddb_valid_table_name(r, name) || refuse_unsupported(r, unsupported, 2)) goto out;
    const json_value *defs = ddb_field(r, r->body, "AttributeDefinitions", JSON_ARRAY, &bad);
    if (bad) goto out;
    const json_value *ks = ddb_field(r, r->body, "KeySchema", JSON_ARRAY, &bad);
    if (bad) goto out;
    if (!defs || !ks) {
        ddb_invalid(r, "1 validation error detected: Value null at '%s' failed to satisfy "
                       "constraint: Member must not be null",
                    !defs ? "attributeDefinitions" : "keySchema");
        goto out;
    }
    if (ks->u.arr.n < 1 || ks->u.arr.n > 2) {
        ddb_invalid(r, "1 validation error detected: Value at 'keySchema' failed to satisfy "
                       "constraint: Member must have length less than or equal to 2 and greater "
                       "than or equal to 1");
        goto out;
    }
    const char *kname[2] = {NULL, NULL};
    key_type ktype[2] = {0, 0};
    for (size_t i = 0; i < ks->u.arr.n; i++) {
        const json_value *e = ks->u.arr.items[i];
        const json_value *an = json_get(e, "AttributeName"), *kt = json_get(e, "KeyType");
        if (!an || an->type != JSON_STRING || !an->u.str.len || !kt || kt->type != JSON_STRING) {
            ddb_invalid(r, "KeySchema elements need an AttributeName and a KeyType");
            goto out;
        }
        const char *want = i == 0 ? "HASH" : "RANGE";
        if (strcmp(kt->u.str.s, want)) {
            ddb_invalid(r, "Invalid KeySchema: The %s key must be of type %s",
                        i == 0 ? "first" : "second", want);
            goto out;
        }
        kname[i] = an->u.str.s;
    }
    if (kname[1] && !strcmp(kname[0], kname[1])) {
        ddb_invalid(r, "Invalid KeySchema: Some index key attribute have no definition");
        goto out;
    }
    for (size_t i = 0; i < defs->u.arr.n; i++) {
        const json_value *d = defs->u.arr.items[i];
        const json_value *an = json_get(d, "AttributeName"), *at = json_get(d, "AttributeType");
        key_type t;
        if (!an || an->type != JSON_STRING || !an->u.str.len || parse_key_type(at, &t)) {
            ddb_invalid(r, "One or more parameter values were invalid: AttributeDefinitions need "
                           "an AttributeName and an AttributeType of S, N or B");
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(json_get(defs->u.arr.items[j], "AttributeName")->u.str.s, an->u.str.s)) {
                ddb_invalid(r, "Cannot have two attributes with the same name");
                goto out;
            }
        for (int k = 0; k < 2; k++)
            if (kname[k] && !strcmp(kname[k], an->u.str.s)) ktype[k] = t;
    }
    if (!ktype[0] || (kname[1] && !ktype[1])) {
        ddb_invalid(r, "One or more parameter values were invalid: Some index key attributes are "
                       "not defined in AttributeDefinitions. Keys: [%s%s%s]",
                    kname[0], kname[1] ? ", " : "", kname[1] ? kname[1] : "");
        goto out;
    }
    if (defs->u.arr.n != ks->u.arr.n) {
        ddb_invalid(r, "One or more parameter values were invalid: Number of attributes in "
                       "KeySchema does not exactly match number of attributes defined in "
                       "AttributeDefinitions");
        goto out;
    }
    table_settings st = {0, 0, 0, 0};
    const json_value *bm = json_get(r->body, "BillingMode");
    if (!bm || bm->type == JSON_NULL) st.on_demand = 0; /* DynamoDB's default: PROVISIONED */
    if (parse_billing(r, &st, 1)) goto out;
    const json_value *ss = json_get(r->body, "StreamSpecification");
    const json_value *se = ss ? json_get(ss, "StreamEnabled") : NULL;
    if (se && se->type == JSON_TRUE) {
        ddb_invalid(r, "StreamSpecification is not supported by this server yet");
        goto out;
    }
    const char *which;
    if (api_over_storage_limit(r->ctx, r->req->body.len, &which)) {
        ddb_error(r->req, 503, "ServiceUnavailableException",
                  "the node is over its %s limit; retry later", which);
        goto out;
    }
    ds_buf extra = DS_BUF_INIT;
    settings_json(&extra, &st);
    meta_table_spec spec = {META_ID_STRING, kname[0], ktype[0], kname[1], ktype[1], extra.data, 0};
    spec.id_type = ktype[0] == KEY_N ? META_ID_INTEGER : ktype[0] == KEY_B ? META_ID_BYTES
                                                                           : META_ID_STRING;
    meta_table *tb;
    int rc = meta_table_create(r->ctx->meta, r->tenant, name->u.str.s, name->u.str.len, &spec,
                               &tb);
    ds_buf_free(&extra);
    if (rc == DS_EEXIST) {
        ddb_error(r->req, 400, "ResourceInUseException", "Table already exists: %s",
                  name->u.str.s);
        goto out;
    }
    if (rc) {
        ddb_error(r->req, 500, "InternalServerError", "creating the table failed: %s",
                  ds_strerror(rc));
        goto out;
    }
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"TableDescription\":");
    ddb_table_description(r, &b, tb, "ACTIVE");
    ds_buf_putc(&b, '}');
    meta_table_release(tb);
    ddb_req_done(r);
    return ddb_reply(r->req, &b);
out:
    ddb_req_done(r);
}

/* ---- DescribeTable, DeleteTable, UpdateTable --------------------------- */
static void describe(ddb_req *r, meta_table *tb, const char *wrapper, const char *status) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_printf(&b, "{\"%s\":", wrapper);
    ddb_table_description(r, &b, tb, status);
    ds_buf_putc(&b, '}');
    meta_table_release(tb);
    ddb_req_done(r);
    ddb_reply(r->req, &b);
}

void ddb_describe_table(ddb_req *r) {
    meta_table *tb = ddb_table(r, NULL);
    if (!tb) return ddb_req_done(r);
    describe(r, tb, "Table", "ACTIVE");
}

void ddb_delete_table(ddb_req *r) {
    meta_table *tb = ddb_table(r, NULL);
    if (!tb) return ddb_req_done(r);
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"TableDescription\":");
    ddb_table_description(r, &b, tb, "DELETING");
    ds_buf_putc(&b, '}');
    int rc = meta_table_drop(r->ctx->meta, r->tenant, tb->name, strlen(tb->name));
    meta_table_release(tb);
    ddb_req_done(r);
    if (rc == DS_ENOTFOUND) {
        ds_buf_free(&b);
        return ddb_error(r->req, 400, "ResourceNotFoundException",
                         "Requested resource not found: Table: %s not found",
                         json_get(r->body, "TableName")->u.str.s);
    }
    if (rc) {
        ds_buf_free(&b);
        return ddb_error(r->req, 500, "InternalServerError", "%s", ds_strerror(rc));
    }
    ddb_reply(r->req, &b);
}

void ddb_update_table(ddb_req *r) {
    static const char *const unsupported[] = {"GlobalSecondaryIndexUpdates", "ReplicaUpdates",
                                              "AttributeDefinitions"};
    meta_table *tb = ddb_table(r, NULL);
    if (!tb) return ddb_req_done(r);
    if (refuse_unsupported(r, unsupported, 3)) goto fail;
    const json_value *ss = json_get(r->body, "StreamSpecification");
    const json_value *se = ss ? json_get(ss, "StreamEnabled") : NULL;
    if (se && se->type == JSON_TRUE) {
        ddb_invalid(r, "StreamSpecification is not supported by this server yet");
        goto fail;
    }
    if (!json_get(r->body, "BillingMode") && !json_get(r->body, "ProvisionedThroughput") &&
        !json_get(r->body, "TableClass") && !json_get(r->body, "DeletionProtectionEnabled")) {
        ddb_invalid(r, "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                       "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is "
                       "required");
        goto fail;
    }
    table_settings st;
    load_settings(r, tb, &st);
    if (parse_billing(r, &st, 0)) goto fail;
    ds_buf extra = DS_BUF_INIT;
    settings_json(&extra, &st);
    int rc = meta_table_set_extra(r->ctx->meta, tb, extra.data, extra.len);
    ds_buf_free(&extra);
    if (rc) {
        ddb_error(r->req, rc == DS_ENOTFOUND ? 400 : 500,
                  rc == DS_ENOTFOUND ? "ResourceNotFoundException" : "InternalServerError",
                  "updating the table failed: %s", ds_strerror(rc));
        goto fail;
    }
    return describe(r, tb, "TableDescription", "ACTIVE");
fail:
    meta_table_release(tb);
    ddb_req_done(r);
}

/* ---- ListTables, DescribeEndpoints ------------------------------------- */
typedef struct list_names {
    ds_buf *b;
    size_t n;
    char last[META_NAME_MAX + 1];
} list_names;

static void list_name(const meta_table *tb, void *ud) {
    list_names *ln = ud;
    if (ln->n++) ds_buf_putc(ln->b, ',');
    json_write_string(ln->b, tb->name, strlen(tb->name));
    snprintf(ln->last, sizeof ln->last, "%s", tb->name);
}

void ddb_list_tables(ddb_req *r) {
    int bad = 0;
    const json_value *lim = ddb_field(r, r->body, "Limit", JSON_NUMBER, &bad);
    const json_value *start =
        bad ? NULL : ddb_field(r, r->body, "ExclusiveStartTableName", JSON_STRING, &bad);
    if (bad) return ddb_req_done(r);
    long limit = lim ? atol(lim->u.str.s) : 100;
    if (limit < 1 || limit > 100) {
        ddb_req_done(r);
        return ddb_invalid(r, "1 validation error detected: Value '%ld' at 'limit' failed to "
                              "satisfy constraint: Member must have value less than or equal to "
                              "100 and greater than or equal to 1", limit);
    }
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"TableNames\":[");
    list_names ln = {&b, 0, ""};
    int more = meta_table_list(r->ctx->meta, r->tenant, start ? start->u.str.s : NULL,
                               start ? start->u.str.len : 0, (size_t)limit, list_name, &ln);
    ds_buf_putc(&b, ']');
    if (more && ln.n) {
        ds_buf_puts(&b, ",\"LastEvaluatedTableName\":");
        json_write_string(&b, ln.last, strlen(ln.last));
    }
    ds_buf_putc(&b, '}');
    ddb_req_done(r);
    ddb_reply(r->req, &b);
}

void ddb_describe_endpoints(ddb_req *r) {
    const ds_slice *host = http_header_get(r->req, "host");
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"Endpoints\":[{\"Address\":");
    if (host) json_write_string(&b, host->p, host->len);
    else ds_buf_puts(&b, "\"localhost\"");
    ds_buf_puts(&b, ",\"CachePeriodInMinutes\":1440}]}");
    ddb_req_done(r);
    ddb_reply(r->req, &b);
}
