/* expr_env.c -- the expression environment of one request (its
 * ExpressionAttributeNames and ExpressionAttributeValues, with the usage
 * tracking behind DynamoDB's "unused" errors) and DynamoDB's reserved words,
 * which may not stand as bare attribute names. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "expr/expr_int.h"

/* ---- reserved words ("Reserved words in DynamoDB", sorted) ---------------------- */
static const char *const reserved[] = {
    "ABORT", "ABSOLUTE", "ACTION", "ADD", "AFTER", "AGENT", "AGGREGATE", "ALL", "ALLOCATE",
    "ALTER", "ANALYZE", "AND", "ANY", "ARCHIVE", "ARE", "ARRAY", "AS", "ASC", "ASCII",
    "ASENSITIVE", "ASSERTION", "ASYMMETRIC", "AT", "ATOMIC", "ATTACH", "ATTRIBUTE", "AUTH",
    "AUTHORIZATION", "AUTHORIZE", "AUTO", "AVG", "BACK", "BACKUP", "BASE", "BATCH", "BEFORE",
    "BEGIN", "BETWEEN", "BIGINT", "BINARY", "BIT", "BLOB", "BLOCK", "BOOLEAN", "BOTH",
    "BREADTH", "BUCKET", "BULK", "BY", "BYTE", "CALL", "CALLED", "CALLING", "CAPACITY",
    "CASCADE", "CASCADED", "CASE", "CAST", "CATALOG", "CHAR", "CHARACTER", "CHECK", "CLASS",
    "CLOB", "CLOSE", "CLUSTER", "CLUSTERED", "CLUSTERING", "CLUSTERS", "COALESCE", "COLLATE",
    "COLLATION", "COLLECTION", "COLUMN", "COLUMNS", "COMBINE", "COMMENT", "COMMIT", "COMPACT",
    "COMPILE", "COMPRESS", "CONDITION", "CONFLICT", "CONNECT", "CONNECTION", "CONSISTENCY",
    "CONSISTENT", "CONSTRAINT", "CONSTRAINTS", "CONSTRUCTOR", "CONSUMED", "CONTINUE",
    "CONVERT", "COPY", "CORRESPONDING", "COUNT", "COUNTER", "CREATE", "CROSS", "CUBE",
    "CURRENT", "CURSOR", "CYCLE", "DATA", "DATABASE", "DATE", "DATETIME", "DAY", "DEALLOCATE",
    "DEC", "DECIMAL", "DECLARE", "DEFAULT", "DEFERRABLE", "DEFERRED", "DEFINE", "DEFINED",
    "DEFINITION", "DELETE", "DELIMITED", "DEPTH", "DEREF", "DESC", "DESCRIBE", "DESCRIPTOR",
    "DETACH", "DETERMINISTIC", "DIAGNOSTICS", "DIRECTORIES", "DISABLE", "DISCONNECT",
    "DISTINCT", "DISTRIBUTE", "DO", "DOMAIN", "DOUBLE", "DROP", "DUMP", "DURATION", "DYNAMIC",
    "EACH", "ELEMENT", "ELSE", "ELSEIF", "EMPTY", "ENABLE", "END", "EQUAL", "EQUALS", "ERROR",
    "ESCAPE", "ESCAPED", "EVAL", "EVALUATE", "EXCEEDED", "EXCEPT", "EXCEPTION", "EXCEPTIONS",
    "EXCLUSIVE", "EXEC", "EXECUTE", "EXISTS", "EXIT", "EXPLAIN", "EXPLODE", "EXPORT",
    "EXPRESSION", "EXTENDED", "EXTERNAL", "EXTRACT", "FAIL", "FALSE", "FAMILY", "FETCH",
    "FIELDS", "FILE", "FILTER", "FILTERING", "FINAL", "FINISH", "FIRST", "FIXED", "FLATTERN",
    "FLOAT", "FOR", "FORCE", "FOREIGN", "FORMAT", "FORWARD", "FOUND", "FREE", "FROM", "FULL",
    "FUNCTION", "FUNCTIONS", "GENERAL", "GENERATE", "GET", "GLOB", "GLOBAL", "GO", "GOTO",
    "GRANT", "GREATER", "GROUP", "GROUPING", "HANDLER", "HASH", "HAVE", "HAVING", "HEAP",
    "HIDDEN", "HOLD", "HOUR", "IDENTIFIED", "IDENTITY", "IF", "IGNORE", "IMMEDIATE", "IMPORT",
    "IN", "INCLUDING", "INCLUSIVE", "INCREMENT", "INCREMENTAL", "INDEX", "INDEXED", "INDEXES",
    "INDICATOR", "INFINITE", "INITIALLY", "INLINE", "INNER", "INNTER", "INOUT", "INPUT",
    "INSENSITIVE", "INSERT", "INSTEAD", "INT", "INTEGER", "INTERSECT", "INTERVAL", "INTO",
    "INVALIDATE", "IS", "ISOLATION", "ITEM", "ITEMS", "ITERATE", "JOIN", "KEY", "KEYS", "LAG",
    "LANGUAGE", "LARGE", "LAST", "LATERAL", "LEAD", "LEADING", "LEAVE", "LEFT", "LENGTH",
    "LESS", "LEVEL", "LIKE", "LIMIT", "LIMITED", "LINES", "LIST", "LOAD", "LOCAL", "LOCALTIME",
    "LOCALTIMESTAMP", "LOCATION", "LOCATOR", "LOCK", "LOCKS", "LOG", "LOGED", "LONG", "LOOP",
    "LOWER", "MAP", "MATCH", "MATERIALIZED", "MAX", "MAXLEN", "MEMBER", "MERGE", "METHOD",
    "METRICS", "MIN", "MINUS", "MINUTE", "MISSING", "MOD", "MODE", "MODIFIES", "MODIFY",
    "MODULE", "MONTH", "MULTI", "MULTISET", "NAME", "NAMES", "NATIONAL", "NATURAL", "NCHAR",
    "NCLOB", "NEW", "NEXT", "NO", "NONE", "NOT", "NULL", "NULLIF", "NUMBER", "NUMERIC",
    "OBJECT", "OF", "OFFLINE", "OFFSET", "OLD", "ON", "ONLINE", "ONLY", "OPAQUE", "OPEN",
    "OPERATOR", "OPTION", "OR", "ORDER", "ORDINALITY", "OTHER", "OTHERS", "OUT", "OUTER",
    "OUTPUT", "OVER", "OVERLAPS", "OVERRIDE", "OWNER", "PAD", "PARALLEL", "PARAMETER",
    "PARAMETERS", "PARTIAL", "PARTITION", "PARTITIONED", "PARTITIONS", "PATH", "PERCENT",
    "PERCENTILE", "PERMISSION", "PERMISSIONS", "PIPE", "PIPELINED", "PLAN", "POOL",
    "POSITION", "PRECISION", "PREPARE", "PRESERVE", "PRIMARY", "PRIOR", "PRIVATE",
    "PRIVILEGES", "PROCEDURE", "PROCESSED", "PROJECT", "PROJECTION", "PROPERTY",
    "PROVISIONING", "PUBLIC", "PUT", "QUERY", "QUIT", "QUORUM", "RAISE", "RANDOM", "RANGE",
    "RANK", "RAW", "READ", "READS", "REAL", "REBUILD", "RECORD", "RECURSIVE", "REDUCE", "REF",
    "REFERENCE", "REFERENCES", "REFERENCING", "REGEXP", "REGION", "REINDEX", "RELATIVE",
    "RELEASE", "REMAINDER", "RENAME", "REPEAT", "REPLACE", "REQUEST", "RESET", "RESIGNAL",
    "RESOURCE", "RESPONSE", "RESTORE", "RESTRICT", "RESULT", "RETURN", "RETURNING",
    "RETURNS", "REVERSE", "REVOKE", "RIGHT", "ROLE", "ROLES", "ROLLBACK", "ROLLUP", "ROUTINE",
    "ROW", "ROWS", "RULE", "RULES", "SAMPLE", "SATISFIES", "SAVE", "SAVEPOINT", "SCAN",
    "SCHEMA", "SCOPE", "SCROLL", "SEARCH", "SECOND", "SECTION", "SEGMENT", "SEGMENTS",
    "SELECT", "SELF", "SEMI", "SENSITIVE", "SEPARATE", "SEQUENCE", "SERIALIZABLE", "SESSION",
    "SET", "SETS", "SHARD", "SHARE", "SHARED", "SHORT", "SHOW", "SIGNAL", "SIMILAR", "SIZE",
    "SKEWED", "SMALLINT", "SNAPSHOT", "SOME", "SOURCE", "SPACE", "SPACES", "SPARSE",
    "SPECIFIC", "SPECIFICTYPE", "SPLIT", "SQL", "SQLCODE", "SQLERROR", "SQLEXCEPTION",
    "SQLSTATE", "SQLWARNING", "START", "STATE", "STATIC", "STATUS", "STORAGE", "STORE",
    "STORED", "STREAM", "STRING", "STRUCT", "STYLE", "SUB", "SUBMULTISET", "SUBPARTITION",
    "SUBSTRING", "SUBTYPE", "SUM", "SUPER", "SYMMETRIC", "SYNONYM", "SYSTEM", "TABLE",
    "TABLESAMPLE", "TEMP", "TEMPORARY", "TERMINATED", "TEXT", "THAN", "THEN", "THROUGHPUT",
    "TIME", "TIMESTAMP", "TIMEZONE", "TINYINT", "TO", "TOKEN", "TOTAL", "TOUCH", "TRAILING",
    "TRANSACTION", "TRANSFORM", "TRANSLATE", "TRANSLATION", "TREAT", "TRIGGER", "TRIM",
    "TRUE", "TRUNCATE", "TTL", "TUPLE", "TYPE", "UNDER", "UNDO", "UNION", "UNIQUE", "UNIT",
    "UNKNOWN", "UNLOGGED", "UNNEST", "UNPROCESSED", "UNSIGNED", "UNTIL", "UPDATE", "UPPER",
    "URL", "USAGE", "USE", "USER", "USERS", "USING", "UUID", "VACUUM", "VALUE", "VALUED",
    "VALUES", "VARCHAR", "VARIABLE", "VARIANCE", "VARINT", "VARYING", "VIEW", "VIEWS",
    "VIRTUAL", "VOID", "WAIT", "WHEN", "WHENEVER", "WHERE", "WHILE", "WINDOW", "WITH",
    "WITHIN", "WITHOUT", "WORK", "WRAPPED", "WRITE", "YEAR", "ZONE",
};

/* Case-insensitive comparison of s (n bytes) with the upper-case word w. */
int expr__word_cmp(const char *s, size_t n, const char *w) {
    for (size_t i = 0; i < n; i++) {
        int c = toupper((unsigned char)s[i]), d = (unsigned char)w[i];
        if (!d) return 1;
        if (c != d) return c - d;
    }
    return w[n] ? -1 : 0;
}

int expr__is_reserved(const char *s, size_t n) {
    size_t lo = 0, hi = DS_ARRAY_LEN(reserved);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = expr__word_cmp(s, n, reserved[mid]);
        if (!c) return 1;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return 0;
}

/* ":x" / "#x": the sigil then one or more of [A-Za-z0-9_]. */
static int placeholder_ok(const char *s, size_t n, char sigil) {
    if (n < 2 || s[0] != sigil) return 0;
    for (size_t i = 1; i < n; i++)
        if (!expr__is_id((unsigned char)s[i])) return 0;
    return 1;
}

/* ---- environment ---------------------------------------------------------------------- */
expr_env *expr_env_new(ds_arena *a) {
    expr_env *env = ds_arena_calloc(a, sizeof *env);
    env->a = a;
    return env;
}

static expr_ref *env_push(ds_arena *a, expr_ref **arr, size_t *n, size_t *cap) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        expr_ref *na = ds_arena_alloc(a, nc * sizeof *na);
        if (*n) memcpy(na, *arr, *n * sizeof *na);
        *arr = na;
        *cap = nc;
    }
    expr_ref *r = &(*arr)[(*n)++];
    memset(r, 0, sizeof *r);
    return r;
}

expr_ref *expr__env_find(expr_ref *arr, size_t n, const char *key, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (arr[i].key_len == len && !memcmp(arr[i].key, key, len)) return &arr[i];
    return NULL;
}

int expr_env_set_names(expr_env *env, const json_value *names, char *err, size_t errlen) {
    if (!names || names->type != JSON_OBJECT)
        return expr__fail(err, errlen, "ExpressionAttributeNames must be a map");
    if (names->u.obj.n == 0)
        return expr__fail(err, errlen, "ExpressionAttributeNames must not be empty");
    for (size_t i = 0; i < names->u.obj.n; i++) {
        const json_member *m = &names->u.obj.members[i];
        if (!placeholder_ok(m->key, m->key_len, '#'))
            return expr__fail(err, errlen,
                              "ExpressionAttributeNames contains invalid key: Syntax error; key: "
                              "\"%.*s\"",
                              (int)DS_MIN(m->key_len, 300), m->key);
        if (m->value->type != JSON_STRING)
            return expr__fail(err, errlen,
                              "ExpressionAttributeNames contains invalid value: Supplied value "
                              "is not a string for key %.*s",
                              (int)m->key_len, m->key);
        if (m->value->u.str.len == 0)
            return expr__fail(err, errlen,
                              "ExpressionAttributeNames contains invalid value: Empty attribute "
                              "name for key %.*s",
                              (int)m->key_len, m->key);
    }
    for (size_t i = 0; i < names->u.obj.n; i++) {
        const json_member *m = &names->u.obj.members[i];
        expr_ref *r = expr__env_find(env->names, env->n_names, m->key, m->key_len);
        if (!r) {
            r = env_push(env->a, &env->names, &env->n_names, &env->cap_names);
            r->key = ds_arena_strndup(env->a, m->key, m->key_len);
            r->key_len = m->key_len;
        }
        r->name = ds_arena_strndup(env->a, m->value->u.str.s, m->value->u.str.len);
        r->name_len = m->value->u.str.len;
    }
    return DS_OK;
}

int expr_env_add_name(expr_env *env, const char *name, size_t len, const char *attr,
                      size_t attr_len) {
    if (!placeholder_ok(name, len, '#') || attr_len == 0) return DS_EINVAL;
    expr_ref *r = expr__env_find(env->names, env->n_names, name, len);
    if (!r) {
        r = env_push(env->a, &env->names, &env->n_names, &env->cap_names);
        r->key = ds_arena_strndup(env->a, name, len);
        r->key_len = len;
    }
    r->name = ds_arena_strndup(env->a, attr, attr_len);
    r->name_len = attr_len;
    r->used = 1; /* programmatic entries are never "unused" */
    return DS_OK;
}

int expr_env_add_value(expr_env *env, const char *name, size_t len, const item_value *v,
                       char *err, size_t errlen) {
    if (!placeholder_ok(name, len, ':'))
        return expr__fail(err, errlen,
                          "ExpressionAttributeValues contains invalid key: Syntax error; key: "
                          "\"%.*s\"",
                          (int)DS_MIN(len, 300), name);
    if (!v) return expr__fail(err, errlen, "ExpressionAttributeValues contains invalid value: "
                                           "Supplied AttributeValue is empty, must contain "
                                           "exactly one of the supported datatypes for key %.*s",
                              (int)len, name);
    expr_ref *r = expr__env_find(env->vals, env->n_vals, name, len);
    if (!r) {
        r = env_push(env->a, &env->vals, &env->n_vals, &env->cap_vals);
        r->key = ds_arena_strndup(env->a, name, len);
        r->key_len = len;
    }
    r->v = v;
    return DS_OK;
}

static int unused_list(const expr_ref *arr, size_t n, const char *what, char *err,
                       size_t errlen) {
    ds_buf b = DS_BUF_INIT;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (arr[i].used) continue;
        ds_buf_puts(&b, any ? ", " : "");
        ds_buf_append(&b, arr[i].key, arr[i].key_len);
        any = 1;
    }
    int rc = DS_OK;
    if (any)
        rc = expr__fail(err, errlen, "Value provided in %s unused in expressions: keys: {%s}",
                        what, b.data);
    ds_buf_free(&b);
    return rc;
}

int expr_env_check_unused(const expr_env *env, char *err, size_t errlen) {
    int rc = unused_list(env->names, env->n_names, "ExpressionAttributeNames", err, errlen);
    if (rc) return rc;
    return unused_list(env->vals, env->n_vals, "ExpressionAttributeValues", err, errlen);
}
