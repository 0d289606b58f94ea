/* rest.c -- the REST v1 API of seed 001 (docs/api-v1.md is its contract).
 *
 *   /v1/version
 *   /v1/tenant[/{tenant}]                                  admin
 *   /v1/tenant/{tenant}/table[/{table}]                    the tenant (or admin)
 *   /v1/tenant/{tenant}/table/{table}/id[/{id}]            the tenant (or admin)
 *
 * Reads run here on the connection's loop thread through the router. Writes
 * become ds_ops; the writer calls write_done() once the write is durable,
 * which posts write_finish() back to the loop thread to answer. An entry is
 * a JSON object stored as an item (plain JSON <-> item, item.h); its ID is
 * the table's partition key, of the table's ID type.
 *
 * POST (a JSON Merge Patch) runs on the writer of the entry's range leader:
 * when the router sends ops to another node, the op carries the apply kind
 * "merge" whose wire form (cluster/opwire.h) is the patch itself, the
 * request's JSON object as the client sent it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "cluster/opwire.h"
#include "common/base64.h"
#include "common/json.h"
#include "engine/item.h"
#include "engine/keycodec.h"

#define REST_MAX_ITEM_BYTES (400u * 1024)
#define REST_MAX_ID_BYTES 2048
#define REST_DEFAULT_LIMIT 100
#define REST_MAX_LIMIT 1000
#define REST_MAX_SEGMENTS 8

static const char *id_type_names[] = {"String", "Integer", "Bytes"};

typedef struct route {
    ds_slice seg[REST_MAX_SEGMENTS]; /* percent-decoded path segments after /v1 */
    int nseg;
} route;

/* ---- small parsers ----------------------------------------------------- */
static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s into the arena; plus_is_space for query strings.
 * Returns DS_EINVAL on a malformed escape. */
static int pct_decode(ds_arena *a, const char *s, size_t n, int plus_is_space, ds_slice *out) {
    char *d = ds_arena_alloc(a, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return DS_EINVAL;
            d[j++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (plus_is_space && s[i] == '+')
            d[j++] = ' ';
        else
            d[j++] = s[i];
    }
    d[j] = 0;
    out->p = d, out->len = j;
    return DS_OK;
}

static int parse_route(http_request *req, route *rt) {
    const char *p = req->path.p + 3, *end = req->path.p + req->path.len; /* after "/v1" */
    rt->nseg = 0;
    while (p < end) {
        p++; /* the '/' */
        const char *s = p;
        while (p < end && *p != '/') p++;
        if (rt->nseg == REST_MAX_SEGMENTS) return DS_ENOTFOUND;
        if (p == s) return DS_ENOTFOUND; /* empty segment: "//" or a trailing '/' */
        /* "." and ".." (even escaped) are refused: SigV4 clients sign the
         * normalized path, so accepting them would let one signature fit two
         * resources. */
        if (pct_decode(req->arena, s, (size_t)(p - s), 0, &rt->seg[rt->nseg])) return DS_EINVAL;
        if (ds_slice_eq(rt->seg[rt->nseg], ".") || ds_slice_eq(rt->seg[rt->nseg], ".."))
            return DS_EINVAL;
        rt->nseg++;
    }
    return DS_OK;
}

/* Finds query parameter name; returns 1 and its decoded value (possibly
 * empty), 0 if absent, -1 if malformed. */
static int query_param(http_request *req, const char *name, ds_slice *out) {
    const char *p = req->query.p, *end = p + req->query.len;
    size_t nl = strlen(name);
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nl && !memcmp(p, name, nl)) {
            if (!eq) {
                out->p = "", out->len = 0;
                return 1;
            }
            return pct_decode(req->arena, eq + 1, (size_t)(pe - eq - 1), 1, out) ? -1 : 1;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

static int parse_limit(http_request *req, size_t *limit) {
    ds_slice v;
    int r = query_param(req, "limit", &v);
    *limit = REST_DEFAULT_LIMIT;
    if (r == 0) return DS_OK;
    if (r < 0 || v.len == 0 || v.len > 9) return DS_EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return DS_EINVAL;
        n = n * 10 + (size_t)(v.p[i] - '0');
    }
    if (n < 1 || n > REST_MAX_LIMIT) return DS_EINVAL;
    *limit = n;
    return DS_OK;
}

/* ---- IDs --------------------------------------------------------------- */
/* Parses an ID segment of table tb's type into kp (bytes in the arena).
 * On failure writes a message for the client into err. */
static int parse_id(ds_arena *a, const meta_table *tb, ds_slice s, key_part *kp, char *err,
                    size_t errlen) {
    kp->type = tb->pk_type;
    switch (tb->id_type) {
    case META_ID_STRING:
        if (s.len < 1 || s.len > REST_MAX_ID_BYTES || !json_utf8_valid(s.p, s.len)) {
            snprintf(err, errlen, "a String ID is 1 to %d bytes of UTF-8", REST_MAX_ID_BYTES);
            return DS_EINVAL;
        }
        kp->p = s.p, kp->len = s.len;
        return DS_OK;
    case META_ID_INTEGER: {
        int ok = s.len >= 1 && s.len <= 20;
        size_t i = ok && s.p[0] == '-' ? 1 : 0;
        ok = ok && i < s.len && !(s.p[i] == '0' && (s.len > i + 1 || i == 1));
        for (size_t j = i; ok && j < s.len; j++) ok = s.p[j] >= '0' && s.p[j] <= '9';
        if (ok) {
            char tmp[24];
            memcpy(tmp, s.p, s.len);
            tmp[s.len] = 0;
            errno = 0;
            (void)strtoll(tmp, NULL, 10);
            ok = errno == 0;
        }
        if (!ok) {
            snprintf(err, errlen, "an Integer ID is a signed 64-bit decimal integer without "
                                  "leading zeros or '+', e.g. -42, 0 or 7");
            return DS_EINVAL;
        }
        kp->p = s.p, kp->len = s.len;
        return DS_OK;
    }
    case META_ID_BYTES: {
        ds_buf b = DS_BUF_INIT;
        int rc = memchr(s.p, '=', s.len) ? DS_EINVAL : base64_decode(&b, s.p, s.len, 1);
        if (rc || b.len < 1 || b.len > REST_MAX_ID_BYTES) {
            snprintf(err, errlen, "a Bytes ID is 1 to %d bytes written as base64url without "
                                  "padding (RFC 4648 section 5)", REST_MAX_ID_BYTES);
            ds_buf_free(&b);
            return DS_EINVAL;
        }
        kp->p = ds_arena_memdup(a, b.data, b.len), kp->len = b.len;
        ds_buf_free(&b);
        return DS_OK;
    }
    }
    return DS_EINVAL;
}

/* Appends the ID as JSON in the table's type. */
static void write_id(ds_buf *out, const meta_table *tb, const key_part *kp) {
    switch (tb->id_type) {
    case META_ID_STRING: json_write_string(out, kp->p, kp->len); break;
    case META_ID_INTEGER: ds_buf_append(out, kp->p, kp->len); break;
    case META_ID_BYTES:
        ds_buf_putc(out, '"');
        base64_encode(out, kp->p, kp->len, 1);
        ds_buf_putc(out, '"');
        break;
    }
}

/* ---- shared answers ---------------------------------------------------- */
static void method_not_allowed(http_request *req, const char *allow) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_printf(&b, "{\"code\":\"MethodNotAllowed\",\"message\":\"%s is not allowed here; "
                      "allowed: %s\"}", req->method, allow);
    http_header h = {{"Allow", 5}, {allow, strlen(allow)}};
    http_respond(req, 405, "application/json", &h, 1, b.data, b.len);
    ds_buf_free(&b);
}

static int method_in(const http_request *req, const char *allow) {
    size_t ml = strlen(req->method);
    for (const char *p = allow; (p = strstr(p, req->method)); p += ml)
        if ((p == allow || p[-1] == ' ' || p[-1] == ',') && (p[ml] == 0 || p[ml] == ','))
            return 1;
    return 0;
}

static int parse_json_body(http_request *req, json_value **out) {
    char err[256];
    if (req->body.len == 0) {
        api_error(req, 400, "InvalidJson", "a JSON object body is required");
        return DS_EINVAL;
    }
    if (json_parse(req->arena, req->body.data, req->body.len, 0, out, err, sizeof err)) {
        api_error(req, 400, "InvalidJson", "the body is not valid JSON: %s", err);
        return DS_EINVAL;
    }
    if ((*out)->type != JSON_OBJECT) {
        api_error(req, 400, "InvalidJson", "the body must be a JSON object");
        return DS_EINVAL;
    }
    return DS_OK;
}

static void rid(ds_buf *b, api_ctx *ctx, const char *tenant, const char *type, const char *name) {
    ds_buf_puts(b, "\"rid\":");
    ds_buf tmp = DS_BUF_INIT;
    ds_buf_printf(&tmp, "rid:dStore:%s:%s:%s:%s", tenant, ctx->location, type, name);
    json_write_string(b, tmp.data, tmp.len);
    ds_buf_free(&tmp);
}

/* ---- tenants ----------------------------------------------------------- */
static int list_tenant_fn(const meta_tenant *t, void *ud) {
    ds_buf *b = ud;
    if (b->data[b->len - 1] != '[') ds_buf_putc(b, ',');
    ds_buf_puts(b, "{\"tenant\":");
    json_write_string(b, t->name, strlen(t->name));
    ds_buf_puts(b, ",\"accessKeyId\":");
    json_write_string(b, t->access_key, strlen(t->access_key));
    ds_buf_puts(b, ",\"created\":\"");
    api_iso8601(b, t->created_ms);
    ds_buf_puts(b, "\"}");
    return 0;
}

static void tenant_list(api_ctx *ctx, http_request *req) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"tenants\":[");
    meta_tenant_list(ctx->meta, list_tenant_fn, &b);
    ds_buf_puts(&b, "]}");
    api_reply_json(req, 200, &b);
}

static void tenant_describe(api_ctx *ctx, http_request *req, meta_tenant *t) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"tenant\":");
    json_write_string(&b, t->name, strlen(t->name));
    ds_buf_putc(&b, ',');
    rid(&b, ctx, t->name, "tenant", t->name);
    ds_buf_puts(&b, ",\"accessKeyId\":");
    json_write_string(&b, t->access_key, strlen(t->access_key));
    ds_buf_puts(&b, ",\"created\":\"");
    api_iso8601(&b, t->created_ms);
    ds_buf_printf(&b, "\",\"tables\":%zu}", meta_tenant_table_count(ctx->meta, t));
    api_reply_json(req, 200, &b);
}

static void tenant_create(api_ctx *ctx, http_request *req, ds_slice name) {
    const char *which;
    if (api_over_storage_limit(ctx, req->body.len, &which)) return api_unavailable(ctx, req, which);
    char nm[META_TENANT_MAX + 1];
    memcpy(nm, name.p, name.len);
    nm[name.len] = 0;
    meta_tenant *t;
    int rc = meta_tenant_create(ctx->meta, nm, NULL, NULL, &t);
    if (rc == DS_EEXIST)
        return api_error(req, 409, "TenantExists", "tenant \"%s\" already exists", nm);
    if (rc)
        return api_error(req, 500, "InternalError", "creating the tenant failed: %s",
                         ds_strerror(rc));
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"tenant\":");
    json_write_string(&b, t->name, strlen(t->name));
    ds_buf_putc(&b, ',');
    rid(&b, ctx, t->name, "tenant", t->name);
    ds_buf_puts(&b, ",\"accessKeyId\":");
    json_write_string(&b, t->access_key, strlen(t->access_key));
    ds_buf_puts(&b, ",\"secretAccessKey\":");
    json_write_string(&b, t->secret, strlen(t->secret));
    ds_buf_putc(&b, '}');
    meta_tenant_release(t);
    api_reply_json(req, 201, &b);
}

static void tenants(api_ctx *ctx, http_request *req, route *rt, api_principal *who) {
    if (rt->nseg == 1) {
        if (!method_in(req, "GET")) return method_not_allowed(req, "GET");
        if (!who->admin)
            return api_error(req, 403, "Forbidden", "only the admin may list tenants");
        return tenant_list(ctx, req);
    }
    ds_slice name = rt->seg[1];
    if (!method_in(req, "GET, PUT, DELETE")) return method_not_allowed(req, "GET, PUT, DELETE");
    if (!meta_valid_tenant_name(name.p, name.len))
        return api_error(req, 400, "InvalidName",
                         "a tenant name is 1 to %d characters of A-Z a-z 0-9 _ . -",
                         META_TENANT_MAX);
    int self = who->tenant && strlen(who->tenant->name) == name.len &&
               !memcmp(who->tenant->name, name.p, name.len);
    if (!who->admin && !(self && !strcmp(req->method, "GET")))
        return api_error(req, 403, "Forbidden", "only the admin may manage tenants");
    if (!strcmp(req->method, "PUT")) return tenant_create(ctx, req, name);
    if (!strcmp(req->method, "DELETE")) {
        int rc = meta_tenant_drop(ctx->meta, name.p, name.len);
        if (rc == DS_ENOTFOUND)
            return api_error(req, 404, "TenantNotFound", "tenant \"%.*s\" does not exist",
                             (int)name.len, name.p);
        if (rc) return api_error(req, 500, "InternalError", "%s", ds_strerror(rc));
        return api_reply_empty(req, 204);
    }
    meta_tenant *t = meta_tenant_get(ctx->meta, name.p, name.len);
    if (!t)
        return api_error(req, 404, "TenantNotFound", "tenant \"%.*s\" does not exist",
                         (int)name.len, name.p);
    tenant_describe(ctx, req, t);
    meta_tenant_release(t);
}

/* ---- tables ------------------------------------------------------------ */
static void table_json(ds_buf *b, api_ctx *ctx, const meta_table *tb) {
    ds_buf_puts(b, "{\"tenant\":");
    json_write_string(b, tb->tenant->name, strlen(tb->tenant->name));
    ds_buf_puts(b, ",\"table\":");
    json_write_string(b, tb->name, strlen(tb->name));
    ds_buf_putc(b, ',');
    rid(b, ctx, tb->tenant->name, "table", tb->name);
    ds_buf_printf(b, ",\"idType\":\"%s\",\"itemCount\":%lld,\"sizeBytes\":%lld,\"created\":\"",
                  id_type_names[tb->id_type], (long long)atomic_load(&tb->item_count),
                  (long long)atomic_load(&tb->size_bytes));
    api_iso8601(b, tb->created_ms);
    ds_buf_puts(b, tb->async_default ? "\",\"replication\":\"async\"}" : "\"}");
}

static void list_table_fn(const meta_table *tb, void *ud) {
    ds_buf *b = ud;
    if (b->data[b->len - 1] != '[') ds_buf_putc(b, ',');
    json_write_string(b, tb->name, strlen(tb->name));
}

typedef struct last_name {
    ds_buf *b;
    char name[META_NAME_MAX + 1];
} last_name;

static void list_table_track(const meta_table *tb, void *ud) {
    last_name *ln = ud;
    list_table_fn(tb, ln->b);
    snprintf(ln->name, sizeof ln->name, "%s", tb->name);
}

static void table_list(api_ctx *ctx, http_request *req, meta_tenant *t) {
    size_t limit;
    ds_slice after = {NULL, 0};
    if (parse_limit(req, &limit) || query_param(req, "after", &after) < 0)
        return api_error(req, 400, "InvalidParameter",
                         "limit must be an integer from 1 to %d; after a table name",
                         REST_MAX_LIMIT);
    ds_buf b = DS_BUF_INIT;
    last_name ln = {&b, ""};
    ds_buf_puts(&b, "{\"tables\":[");
    int more = meta_table_list(ctx->meta, t, after.p, after.len, limit, list_table_track, &ln);
    ds_buf_putc(&b, ']');
    if (more) {
        ds_buf_puts(&b, ",\"next\":");
        json_write_string(&b, ln.name, strlen(ln.name));
    }
    ds_buf_putc(&b, '}');
    api_reply_json(req, 200, &b);
}

static void table_create(api_ctx *ctx, http_request *req, meta_tenant *t, ds_slice name) {
    meta_table_spec spec = {.id_type = META_ID_STRING};
    if (req->body.len) {
        json_value *j;
        if (parse_json_body(req, &j)) return;
        for (size_t i = 0; i < j->u.obj.n; i++) {
            json_member *mb = &j->u.obj.members[i];
            if (!strcmp(mb->key, "replication")) {
                const json_value *v = mb->value;
                if (v->type != JSON_STRING ||
                    (strcmp(v->u.str.s, "sync") && strcmp(v->u.str.s, "async")))
                    return api_error(req, 400, "InvalidParameter",
                                     "replication must be \"sync\" or \"async\"");
                spec.async_default = !strcmp(v->u.str.s, "async");
                continue;
            }
            if (strcmp(mb->key, "idType"))
                return api_error(req, 400, "InvalidParameter",
                                 "unknown table setting \"%s\"; the settings are idType and "
                                 "replication", mb->key);
            int found = 0;
            for (int k = 0; k < 3 && mb->value->type == JSON_STRING; k++)
                if (!strcmp(mb->value->u.str.s, id_type_names[k]))
                    spec.id_type = (meta_id_type)k, found = 1;
            if (!found)
                return api_error(req, 400, "InvalidParameter",
                                 "idType must be \"String\", \"Integer\" or \"Bytes\"");
        }
    }
    const char *which;
    if (api_over_storage_limit(ctx, req->body.len, &which)) return api_unavailable(ctx, req, which);
    meta_table *tb;
    int rc = meta_table_create(ctx->meta, t, name.p, name.len, &spec, &tb);
    if (rc == DS_EEXIST)
        return api_error(req, 409, "TableExists", "table \"%.*s\" already exists",
                         (int)name.len, name.p);
    if (rc) return api_error(req, 500, "InternalError", "%s", ds_strerror(rc));
    ds_buf b = DS_BUF_INIT;
    table_json(&b, ctx, tb);
    meta_table_release(tb);
    api_reply_json(req, 201, &b);
}

static void entries(api_ctx *ctx, http_request *req, route *rt, meta_table *tb);

static void tables(api_ctx *ctx, http_request *req, route *rt, meta_tenant *t) {
    if (rt->nseg == 3) {
        if (!method_in(req, "GET")) return method_not_allowed(req, "GET");
        return table_list(ctx, req, t);
    }
    ds_slice name = rt->seg[3];
    if (!meta_valid_table_name(name.p, name.len))
        return api_error(req, 400, "InvalidName",
                         "a table name is 3 to %d characters of A-Z a-z 0-9 _ . -",
                         META_NAME_MAX);
    if (rt->nseg == 4) {
        if (!method_in(req, "GET, PUT, DELETE"))
            return method_not_allowed(req, "GET, PUT, DELETE");
        if (!strcmp(req->method, "PUT")) return table_create(ctx, req, t, name);
        if (!strcmp(req->method, "DELETE")) {
            int rc = meta_table_drop(ctx->meta, t, name.p, name.len);
            if (rc == DS_ENOTFOUND)
                return api_error(req, 404, "TableNotFound",
                                 "table \"%.*s\" does not exist in tenant \"%s\"", (int)name.len,
                                 name.p, t->name);
            if (rc) return api_error(req, 500, "InternalError", "%s", ds_strerror(rc));
            return api_reply_empty(req, 204);
        }
    }
    if (rt->nseg > 4 && (!ds_slice_eq(rt->seg[4], "id") || rt->nseg > 6))
        return api_error(req, 404, "NotFound", "no such resource: see docs/api-v1.md");
    meta_table *tb = meta_table_get(ctx->meta, t, name.p, name.len);
    if (!tb)
        return api_error(req, 404, "TableNotFound", "table \"%.*s\" does not exist in tenant "
                                                    "\"%s\"", (int)name.len, name.p, t->name);
    if (rt->nseg == 4) {
        ds_buf b = DS_BUF_INIT;
        table_json(&b, ctx, tb);
        api_reply_json(req, 200, &b);
    } else
        entries(ctx, req, rt, tb);
    meta_table_release(tb);
}

/* ---- entries: writes --------------------------------------------------- */
typedef struct rest_write {
    ds_op op;
    http_request *req;
    api_ctx *ctx;
    key_part id;
    char err[256]; /* op.err: the writer's message for DS_EINVAL */
} rest_write;

/* RFC 7396: the patch's members replace the target's, objects merge, null
 * removes. Runs on the writer thread, allocating in the op's arena. */
static int merge_patch(ds_arena *a, const item_value *target, const json_value *patch,
                       item_value **out, char *err, size_t errlen) {
    size_t tn = target && target->type == ITEM_M ? target->u.m.n : 0;
    item_attr *attrs = ds_arena_alloc(a, (tn + patch->u.obj.n + 1) * sizeof *attrs);
    size_t n = tn;
    if (tn) memcpy(attrs, target->u.m.attrs, tn * sizeof *attrs);
    for (size_t i = 0; i < patch->u.obj.n; i++) {
        const json_member *pm = &patch->u.obj.members[i];
        size_t k = 0;
        while (k < n && !(attrs[k].name_len == pm->key_len &&
                          !memcmp(attrs[k].name, pm->key, pm->key_len)))
            k++;
        if (pm->value->type == JSON_NULL) {
            if (k < n) memmove(&attrs[k], &attrs[k + 1], (n - k - 1) * sizeof *attrs), n--;
            continue;
        }
        item_value *v;
        int rc = pm->value->type == JSON_OBJECT
                     ? merge_patch(a, k < n ? attrs[k].value : NULL, pm->value, &v, err, errlen)
                     : item_from_json(a, pm->value, &v, err, errlen);
        if (rc) return rc;
        if (k == n) attrs[n].name = pm->key, attrs[n].name_len = pm->key_len, n++;
        attrs[k].value = v;
    }
    item_value *m = ds_arena_calloc(a, sizeof *m);
    m->type = ITEM_M;
    m->u.m.attrs = attrs;
    m->u.m.n = n;
    *out = m;
    return DS_OK;
}

/* op->apply of POST; op->apply_arg is the patch (a JSON object). */
static int apply_patch(ds_op *op, const item_value *old, item_value **out) {
    return merge_patch(op->arena, old, op->apply_arg, out, op->err, op->errlen);
}

/* The "merge" apply kind: on the node that runs the op, the wire form is
 * the patch itself (its tree lives in the op's arena). */
static int merge_decode(ds_op *op, meta_table *tb, const json_value *wire, char *err,
                        size_t errlen) {
    (void)tb;
    if (wire->type != JSON_OBJECT)
        return ds_seterr(err, errlen, DS_EPARSE, "merge apply: the patch is a JSON object");
    op->apply = apply_patch;
    op->apply_arg = (void *)wire;
    return DS_OK;
}

__attribute__((constructor)) static void rest_register(void) {
    opwire_register_apply("merge", merge_decode);
}

/* Runs on the request's loop thread once the write is durable or failed.
 * Everything the answer needs is taken from the op first: after the answer
 * is sent, the request and its arena belong to the next request. */
static void write_finish(void *arg) {
    rest_write *w = arg;
    http_request *req = w->req;
    meta_table *tb = w->op.table;
    int rc = w->op.status, is_put = !strcmp(req->method, "PUT");
    int is_delete = !strcmp(req->method, "DELETE"), dropped = atomic_load(&tb->dropped);
    ds_buf b = DS_BUF_INIT;
    if (rc == DS_OK && is_put) {
        ds_buf_puts(&b, "{\"id\":");
        write_id(&b, tb, &w->id);
        ds_buf_putc(&b, '}');
    } else if (rc == DS_OK && !is_delete)
        item_to_json(&b, w->op.new_item);
    meta_table_release(tb);
    ds_op_release(&w->op);

    if (rc == DS_OK && is_delete) {
        ds_buf_free(&b);
        api_reply_empty(req, 204);
    } else if (rc == DS_OK)
        api_reply_json(req, is_put ? 201 : 200, &b);
    else if (rc == DS_EEXIST)
        api_error(req, 409, "EntryExists", "an entry with this ID already exists; use POST to "
                                           "update it");
    else if (rc == DS_ENOTFOUND)
        api_error(req, 404, "EntryNotFound", "no entry with this ID");
    else if (rc == DS_ESTATE && dropped)
        api_error(req, 404, "TableNotFound", "the table was deleted");
    else if (rc == DS_ETOOBIG)
        api_error(req, 413, "PayloadTooLarge", "an entry is at most %u bytes", REST_MAX_ITEM_BYTES);
    else if (rc == DS_EINVAL && w->err[0])
        api_error(req, 400, "InvalidJson", "%s", w->err);
    else if (rc == DS_ESTATE || rc == DS_ENOSPACE)
        api_unavailable(w->ctx, req, rc == DS_ENOSPACE ? "disk" : "shutdown");
    else
        api_error(req, 500, "InternalError", "the write failed: %s", ds_strerror(rc));
}

static void write_done(ds_op *op) {
    rest_write *w = op->done_arg;
    http_post(w->req, write_finish, w);
}

static void entry_write(api_ctx *ctx, http_request *req, meta_table *tb, const key_part *id) {
    int is_delete = !strcmp(req->method, "DELETE"), is_post = !strcmp(req->method, "POST");
    const char *which;
    if (!is_delete && api_over_storage_limit(ctx, req->body.len, &which)) return api_unavailable(ctx, req, which);
    rest_write *w = ds_arena_calloc(req->arena, sizeof *w);
    w->req = req;
    w->ctx = ctx;
    w->id = *id;
    ds_op *op = &w->op;
    ds_op_init(op, DS_OP_WRITE, req->arena);
    if (api_replication_mode(req, tb, &op->async))
        return api_error(req, 400, "InvalidParameter", "X-DStore-Replication must be sync or async");
    op->err = w->err;
    op->errlen = sizeof w->err;
    if (!is_delete) {
        json_value *j;
        if (req->body.len > 2 * REST_MAX_ITEM_BYTES)
            return api_error(req, 413, "PayloadTooLarge", "an entry is at most %u bytes",
                             REST_MAX_ITEM_BYTES);
        if (parse_json_body(req, &j)) return;
        if (is_post) {
            op->apply = apply_patch;
            op->apply_arg = j;
            if (ctx->router->needs_wire) {
                op->apply_kind = "merge";
                ds_buf_append(&op->apply_wire, req->body.data, req->body.len);
            }
        } else {
            char err[256];
            if (item_from_json(req->arena, j, &op->item, err, sizeof err))
                return api_error(req, 400, "InvalidJson", "%s", err);
        }
    }
    uint32_t hash;
    if (keycodec_hash(id, &hash) || keycodec_data_key(&op->key, tb->id, hash, id, NULL) ||
        keycodec_index_key(&op->ikey, tb->id, id, NULL)) {
        ds_op_release(op);
        return api_error(req, 400, "InvalidId", "the ID cannot be encoded as a key");
    }
    op->hash = hash;
    op->is_delete = is_delete;
    op->precond = is_delete || is_post ? DS_PRECOND_EXISTS : DS_PRECOND_NOT_EXISTS;
    op->max_item_bytes = REST_MAX_ITEM_BYTES;
    op->done = write_done;
    op->done_arg = w;
    meta_table_retain(tb);
    op->table = tb;
    router_write(ctx->router, op);
}

/* ---- entries: reads ---------------------------------------------------- */
static void entry_get(api_ctx *ctx, http_request *req, meta_table *tb, const key_part *id) {
    ds_buf key = DS_BUF_INIT;
    uint32_t hash;
    item_value *item;
    int rc = keycodec_hash(id, &hash);
    if (rc == DS_OK) rc = keycodec_data_key(&key, tb->id, hash, id, NULL);
    if (rc == DS_OK) rc = router_read(ctx->router, tb, key.data, key.len, req->arena, &item);
    ds_buf_free(&key);
    if (rc == DS_ENOTFOUND) return api_error(req, 404, "EntryNotFound", "no entry with this ID");
    if (rc) return api_error(req, 500, "InternalError", "the read failed: %s", ds_strerror(rc));
    ds_buf b = DS_BUF_INIT;
    item_to_json(&b, item);
    api_reply_json(req, 200, &b);
}

typedef struct list_ctx {
    meta_table *tb;
    ds_buf *out;
    ds_arena *a;
    key_part last;
    size_t n;
} list_ctx;

static int list_fn(const char *ikey, size_t iklen, item_value *item, void *ud) {
    list_ctx *lc = ud;
    const char *p = ikey + 8;
    if (keycodec_decode_component(lc->a, lc->tb->pk_type, &p, ikey + iklen, &lc->last))
        return 1;
    if (lc->n++) ds_buf_putc(lc->out, ',');
    ds_buf_puts(lc->out, "{\"id\":");
    write_id(lc->out, lc->tb, &lc->last);
    ds_buf_puts(lc->out, ",\"value\":");
    item_to_json(lc->out, item);
    ds_buf_putc(lc->out, '}');
    return 0;
}

static void entry_list(api_ctx *ctx, http_request *req, meta_table *tb) {
    ds_slice prefix, after, cnt;
    int has_prefix = query_param(req, "prefix", &prefix), has_after = query_param(req, "after", &after);
    int has_count = query_param(req, "count", &cnt);
    size_t limit;
    char err[256];
    if (has_prefix < 0 || has_after < 0 || has_count < 0 || parse_limit(req, &limit))
        return api_error(req, 400, "InvalidParameter",
                         "bad query: limit is an integer from 1 to %d; prefix and after are "
                         "percent-encoded", REST_MAX_LIMIT);
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT, start = DS_BUF_INIT;
    keycodec_table_bounds(&lo, &hi, tb->id);
    if (has_prefix && prefix.len) {
        if (tb->id_type == META_ID_INTEGER) {
            ds_buf_free(&lo), ds_buf_free(&hi);
            return api_error(req, 400, "InvalidParameter",
                             "prefix applies to String and Bytes IDs, not Integer");
        }
        key_part kp = {tb->pk_type, prefix.p, prefix.len};
        if (tb->id_type == META_ID_BYTES) {
            ds_buf raw = DS_BUF_INIT;
            if (base64_decode(&raw, prefix.p, prefix.len, 1)) {
                ds_buf_free(&raw), ds_buf_free(&lo), ds_buf_free(&hi);
                return api_error(req, 400, "InvalidParameter",
                                 "a Bytes prefix is written in base64url without padding");
            }
            kp.p = ds_arena_memdup(req->arena, raw.data, raw.len), kp.len = raw.len;
            ds_buf_free(&raw);
        }
        keycodec_put_prefix(&lo, &kp);
        ds_buf_reset(&hi);
        ds_buf_append(&hi, lo.data, lo.len);
        keycodec_successor(&hi);
    }
    if (has_count) {
        uint64_t n = 0;
        int rc = router_count(ctx->router, tb, &lo, &hi, &n);
        ds_buf_free(&lo), ds_buf_free(&hi);
        if (rc) return api_error(req, 500, "InternalError", "%s", ds_strerror(rc));
        ds_buf b = DS_BUF_INIT;
        ds_buf_printf(&b, "{\"count\":%llu}", (unsigned long long)n);
        return api_reply_json(req, 200, &b);
    }
    ds_buf_append(&start, lo.data, lo.len);
    if (has_after && after.len) {
        key_part kp;
        if (parse_id(req->arena, tb, after, &kp, err, sizeof err)) {
            ds_buf_free(&lo), ds_buf_free(&hi), ds_buf_free(&start);
            return api_error(req, 400, "InvalidParameter", "after: %s", err);
        }
        ds_buf ak = DS_BUF_INIT;
        keycodec_index_key(&ak, tb->id, &kp, NULL);
        ds_buf_putc(&ak, 0); /* the smallest key after it: components are prefix-free */
        if (memcmp(ak.data, lo.data, DS_MIN(ak.len, lo.len)) > 0 ||
            (memcmp(ak.data, lo.data, DS_MIN(ak.len, lo.len)) == 0 && ak.len > lo.len)) {
            ds_buf_free(&start);
            start = ak;
        } else
            ds_buf_free(&ak);
    }
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "{\"items\":[");
    list_ctx lc = {tb, &b, req->arena, {0, NULL, 0}, 0};
    int more = 0;
    int rc = router_list(ctx->router, tb, &lo, &hi, &start, limit, req->arena, list_fn, &lc, &more);
    ds_buf_free(&lo), ds_buf_free(&hi), ds_buf_free(&start);
    if (rc) {
        ds_buf_free(&b);
        return api_error(req, 500, "InternalError", "listing failed: %s", ds_strerror(rc));
    }
    ds_buf_putc(&b, ']');
    if (more && lc.n) {
        ds_buf_puts(&b, ",\"next\":");
        write_id(&b, tb, &lc.last);
    }
    ds_buf_putc(&b, '}');
    api_reply_json(req, 200, &b);
}

static void entries(api_ctx *ctx, http_request *req, route *rt, meta_table *tb) {
    if (tb->sk_type)
        return api_error(req, 400, "BadRequest", "table \"%s\" has a sort key; use the DynamoDB "
                                                 "API for its items", tb->name);
    if (rt->nseg == 5) {
        if (!method_in(req, "GET")) return method_not_allowed(req, "GET");
        return entry_list(ctx, req, tb);
    }
    if (!method_in(req, "GET, PUT, POST, DELETE"))
        return method_not_allowed(req, "GET, PUT, POST, DELETE");
    key_part id;
    char err[256];
    if (parse_id(req->arena, tb, rt->seg[5], &id, err, sizeof err))
        return api_error(req, 400, "InvalidId", "%s", err);
    if (!strcmp(req->method, "GET")) return entry_get(ctx, req, tb, &id);
    entry_write(ctx, req, tb, &id);
}

/* ---- entry point ------------------------------------------------------- */
static void dispatch(api_ctx *ctx, http_request *req);

void rest_handle(api_ctx *ctx, http_request *req) { dispatch(ctx, req); }

static void dispatch(api_ctx *ctx, http_request *req) {
    route rt;
    int rc = parse_route(req, &rt);
    if (rc == DS_EINVAL)
        return api_error(req, 400, "BadRequest",
                         "the URL has a malformed percent-escape or a \".\" or \"..\" segment");
    if (rc || rt.nseg == 0) return api_error(req, 404, "NotFound", "no such resource");
    if (ds_slice_eq(rt.seg[0], "version") && rt.nseg == 1) {
        if (!method_in(req, "GET, HEAD")) return method_not_allowed(req, "GET, HEAD");
        ds_buf b = DS_BUF_INIT;
        ds_buf_printf(&b, "{\"api\":[1,0],\"server\":\"%s\"}", DSTORE_VERSION);
        return api_reply_json(req, 200, &b);
    }
    if (!ds_slice_eq(rt.seg[0], "tenant") || (rt.nseg > 2 && !ds_slice_eq(rt.seg[2], "table")))
        return api_error(req, 404, "NotFound", "no such resource: see docs/api-v1.md");

    api_principal who;
    char err[256];
    if (api_authenticate(ctx, req, &who, err, sizeof err))
        return api_error(req, 401, "Unauthorized", "%s", err);
    if (rt.nseg <= 2) {
        tenants(ctx, req, &rt, &who);
        return api_principal_release(&who);
    }
    ds_slice tname = rt.seg[1];
    meta_tenant *t = NULL;
    if (who.admin) {
        t = meta_tenant_get(ctx->meta, tname.p, tname.len);
        if (!t) {
            api_principal_release(&who);
            return api_error(req, 404, "TenantNotFound", "tenant \"%.*s\" does not exist",
                             (int)tname.len, tname.p);
        }
    } else if (strlen(who.tenant->name) == tname.len &&
               !memcmp(who.tenant->name, tname.p, tname.len)) {
        t = who.tenant;
        who.tenant = NULL;
    } else {
        api_principal_release(&who);
        return api_error(req, 403, "Forbidden",
                         "these credentials do not grant access to tenant \"%.*s\"",
                         (int)tname.len, tname.p);
    }
    api_principal_release(&who);
    tables(ctx, req, &rt, t);
    meta_tenant_release(t);
}
