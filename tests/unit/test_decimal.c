/* test_decimal.c -- DynamoDB numbers: parse, canonical format, compare, add,
 * with random cross-checks against __int128 arithmetic on scaled integers. */
#include "common/decimal.h"
#include "t.h"

static int parse(const char *s, decimal *d) {
    return decimal_parse(s, strlen(s), d);
}

/* canonical text of s, or "ERR<code>" */
static const char *canon(const char *s) {
    static char out[256];
    decimal d;
    int rc = parse(s, &d);
    if (rc) {
        snprintf(out, sizeof out, "ERR%d", rc);
        return out;
    }
    ds_buf b = DS_BUF_INIT;
    decimal_format(&b, &d);
    snprintf(out, sizeof out, "%s", b.data);
    ds_buf_free(&b);
    return out;
}

TEST(parse_and_format) {
    static const char *cases[][2] = {
        {"0", "0"},
        {"-0", "0"},
        {"+0", "0"},
        {"0.000", "0"},
        {"0e999999999999", "0"},
        {"00", "0"},
        {"1", "1"},
        {"+1", "1"},
        {"-1", "-1"},
        {"1.0", "1"},
        {"1.50", "1.5"},
        {"001.500", "1.5"},
        {"100", "100"},
        {"1e2", "100"},
        {"1E+2", "100"},
        {"1e-2", "0.01"},
        {".5", "0.5"},
        {"5.", "5"},
        {"-.5e1", "-5"},
        {"123.456", "123.456"},
        {"0.000123", "0.000123"},
        {"12345e-3", "12.345"},
        {"12345e-5", "0.12345"},
        {"12345e-6", "0.012345"},
        {"1.2345e4", "12345"},
        {"1.2345e3", "1234.5"},
        {"10.10e1", "101"},
        {"1e-130", "0.0000000000000000000000000000000000000000000000000000000000000000000000"
                   "000000000000000000000000000000000000000000000000000000000001"},
        {"99999999999999999999999999999999999999", "99999999999999999999999999999999999999"},
        {"9.9999999999999999999999999999999999999E+125", NULL},
        {"1e126", "ERR-17"},
        {"1e-131", "ERR-17"},
        {"10e125", "ERR-17"},
        {"0.1e-130", "ERR-17"},
        {"-1e126", "ERR-17"},
        {"123456789012345678901234567890123456789", "ERR-17"},
        {"1234567890123456789012345678901234567800000",
         "1234567890123456789012345678901234567800000"},
        {"0.00000000000000000000000012345678901234567890123456789012345678",
         "0.00000000000000000000000012345678901234567890123456789012345678"},
        {"1.00000000000000000000000000000000000001", "ERR-17"},
        {"1.0000000000000000000000000000000000001", "1.0000000000000000000000000000000000001"},
        {"", "ERR-2"},
        {"-", "ERR-2"},
        {".", "ERR-2"},
        {"+.", "ERR-2"},
        {"e5", "ERR-2"},
        {"1e", "ERR-2"},
        {"1e+", "ERR-2"},
        {"1.2.3", "ERR-2"},
        {"1 ", "ERR-2"},
        {" 1", "ERR-2"},
        {"0x10", "ERR-2"},
        {"inf", "ERR-2"},
        {"NaN", "ERR-2"},
        {"--1", "ERR-2"},
        {"1e5.5", "ERR-2"},
        {"1,5", "ERR-2"},
        {"1e-", "ERR-2"},
        {"١", "ERR-2"},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(cases); i++) {
        const char *got = canon(cases[i][0]);
        if (!cases[i][1]) {
            CHECK(strncmp(got, "ERR", 3) != 0);
            CHECK_EQ_INT(strlen(got), 126);
            continue;
        }
        if (strcmp(got, cases[i][1]))
            T_FAIL("canon(\"%s\") = \"%s\", want \"%s\"", cases[i][0], got, cases[i][1]);
    }
    /* an embedded NUL is not accepted */
    decimal d;
    CHECK_EQ_INT(decimal_parse("1\0", 2, &d), DS_EINVAL);
    /* the structure is normalized */
    CHECK_EQ_INT(parse("-0.0120", &d), DS_OK);
    CHECK_EQ_INT(d.sign, -1);
    CHECK_EQ_INT(d.exp, -1);
    CHECK_EQ_INT(d.n, 2);
    CHECK_EQ_MEM(d.d, "12", 2);
    CHECK_EQ_INT(parse("0", &d), DS_OK);
    CHECK_EQ_INT(d.sign, 0);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_INT(d.exp, 0);
}

TEST(format_parse_roundtrip_extremes) {
    const char *xs[] = {"1e-130",
                        "-1e-130",
                        "9.9999999999999999999999999999999999999E+125",
                        "-9.9999999999999999999999999999999999999E+125",
                        "1e125",
                        "1.234e-100",
                        "5e-1"};
    for (size_t i = 0; i < DS_ARRAY_LEN(xs); i++) {
        decimal a, b;
        CHECK_EQ_INT(parse(xs[i], &a), DS_OK);
        ds_buf t = DS_BUF_INIT;
        decimal_format(&t, &a);
        CHECK_EQ_INT(decimal_parse(t.data, t.len, &b), DS_OK);
        CHECK_EQ_INT(decimal_cmp(&a, &b), 0);
        CHECK(a.sign == b.sign && a.exp == b.exp && a.n == b.n && !memcmp(a.d, b.d, a.n));
        ds_buf_free(&t);
    }
}

TEST(compare_fixed) {
    const char *sorted[] = {"-9.9999999999999999999999999999999999999E+125",
                            "-1e10",
                            "-100",
                            "-99.99",
                            "-1",
                            "-0.5",
                            "-1e-130",
                            "0",
                            "1e-130",
                            "0.1",
                            "0.10001",
                            "0.11",
                            "1",
                            "1.000000000000000000000000000000000001",
                            "2",
                            "10",
                            "99",
                            "100",
                            "1e125"};
    for (size_t i = 0; i < DS_ARRAY_LEN(sorted); i++)
        for (size_t j = 0; j < DS_ARRAY_LEN(sorted); j++) {
            decimal a, b;
            CHECK_EQ_INT(parse(sorted[i], &a), DS_OK);
            CHECK_EQ_INT(parse(sorted[j], &b), DS_OK);
            int want = i < j ? -1 : i > j ? 1 : 0;
            if (decimal_cmp(&a, &b) != want)
                T_FAIL("cmp(%s, %s) != %d", sorted[i], sorted[j], want);
        }
    decimal a, b;
    parse("1.0", &a);
    parse("1", &b);
    CHECK_EQ_INT(decimal_cmp(&a, &b), 0);
    parse("-0", &a);
    parse("0.0e5", &b);
    CHECK_EQ_INT(decimal_cmp(&a, &b), 0);
}

static const char *add_str(const char *x, const char *y, int sub) {
    static char out[256];
    decimal a, b, r;
    CHECK_EQ_INT(parse(x, &a), DS_OK);
    CHECK_EQ_INT(parse(y, &b), DS_OK);
    int rc = sub ? decimal_sub(&a, &b, &r) : decimal_add(&a, &b, &r);
    if (rc) {
        snprintf(out, sizeof out, "ERR%d", rc);
        return out;
    }
    ds_buf t = DS_BUF_INIT;
    decimal_format(&t, &r);
    snprintf(out, sizeof out, "%s", t.data);
    ds_buf_free(&t);
    return out;
}

TEST(add_sub_fixed) {
    CHECK_EQ_STR(add_str("1", "2", 0), "3");
    CHECK_EQ_STR(add_str("0.1", "0.2", 0), "0.3");
    CHECK_EQ_STR(add_str("9.99", "0.01", 0), "10");
    CHECK_EQ_STR(add_str("1", "1", 1), "0");
    CHECK_EQ_STR(add_str("-1", "1", 0), "0");
    CHECK_EQ_STR(add_str("1", "0.001", 1), "0.999");
    CHECK_EQ_STR(add_str("0.001", "1", 1), "-0.999");
    CHECK_EQ_STR(add_str("-5", "-7", 0), "-12");
    CHECK_EQ_STR(add_str("-5", "-7", 1), "2");
    CHECK_EQ_STR(add_str("0", "-7", 1), "7");
    CHECK_EQ_STR(add_str("-7", "0", 0), "-7");
    CHECK_EQ_STR(add_str("1e100", "1e-20", 0), "ERR-17"); /* needs 121 digits */
    CHECK_EQ_STR(add_str("1e30", "1e-7", 0), "1000000000000000000000000000000.0000001");
    CHECK_EQ_STR(add_str("99999999999999999999999999999999999999", "1", 0),
                 "100000000000000000000000000000000000000");
    CHECK_EQ_STR(add_str("99999999999999999999999999999999999999", "0.1", 0), "ERR-17");
    CHECK_EQ_STR(add_str("9.9999999999999999999999999999999999999E+125", "1e88", 0), "ERR-17");
    CHECK_EQ_STR(add_str("9.9999999999999999999999999999999999999E+125", "-1e88", 1), "ERR-17");
    CHECK_EQ_STR(add_str("9.9999999999999999999999999999999999999E+125", "1e87", 1), "ERR-17");
    CHECK_EQ_STR(add_str("9.9999999999999999999999999999999999999E+125", "1e88", 1),
                 canon("9.9999999999999999999999999999999999998E+125"));
    CHECK_EQ_STR(add_str("1.1e-129", "1e-129", 1), canon("1e-130"));
    CHECK_EQ_STR(add_str("1.1e-130", "1e-130", 1), "ERR-17"); /* 1e-131: underflow */
    CHECK_EQ_STR(add_str("2e-130", "1e-130", 1), canon("1e-130"));
    /* aliasing */
    decimal a, b;
    parse("2.5", &a);
    parse("0.5", &b);
    CHECK_EQ_INT(decimal_add(&a, &b, &a), DS_OK);
    CHECK_EQ_INT(decimal_sub(&a, &a, &a), DS_OK);
    CHECK_EQ_INT(a.sign, 0);
}

/* ---- random cross-checks against __int128 --------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

typedef struct {
    __int128 m; /* value = m * 10^s */
    int s;
} scaled;

static scaled rnd_scaled(void) {
    scaled x;
    int digits = 1 + (int)(rnd() % 17);
    int64_t m = 0;
    for (int i = 0; i < digits; i++)
        m = m * 10 + (int64_t)(rnd() % 10);
    if (rnd() % 4 == 0) m = (int64_t)(rnd() % 20); /* small and zero values often */
    x.m = rnd() % 2 ? -m : m;
    x.s = (int)(rnd() % 21) - 10;
    return x;
}

static void i128_text(char *out, __int128 v) {
    char tmp[64];
    int n = 0, neg = v < 0;
    unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (neg) *out++ = '-';
    while (n)
        *out++ = tmp[--n];
    *out = 0;
}

static void scaled_text(char *out, scaled x) {
    i128_text(out, x.m);
    sprintf(out + strlen(out), "e%d", x.s);
}

static __int128 p10(int k) {
    __int128 r = 1;
    while (k-- > 0)
        r *= 10;
    return r;
}

TEST(random_cmp_add_vs_int128) {
    for (int iter = 0; iter < 200000; iter++) {
        scaled x = rnd_scaled(), y = rnd_scaled();
        char tx[80], ty[80], tr[96];
        scaled_text(tx, x);
        scaled_text(ty, y);
        decimal a, b, r;
        CHECK_EQ_INT(parse(tx, &a), DS_OK);
        CHECK_EQ_INT(parse(ty, &b), DS_OK);
        int low = x.s < y.s ? x.s : y.s;
        __int128 X = x.m * p10(x.s - low), Y = y.m * p10(y.s - low);
        int want = X < Y ? -1 : X > Y;
        if (decimal_cmp(&a, &b) != want) T_FAIL("cmp(%s, %s) != %d", tx, ty, want);
        for (int sub = 0; sub <= 1; sub++) {
            __int128 R = sub ? X - Y : X + Y;
            scaled rs = {R, low};
            scaled_text(tr, rs);
            decimal w;
            CHECK_EQ_INT(parse(tr, &w), DS_OK);
            CHECK_EQ_INT(sub ? decimal_sub(&a, &b, &r) : decimal_add(&a, &b, &r), DS_OK);
            if (decimal_cmp(&r, &w) != 0 || r.n != w.n || r.exp != w.exp || memcmp(r.d, w.d, r.n))
                T_FAIL("%s %c %s != %s", tx, sub ? '-' : '+', ty, tr);
            /* canonical text round-trips */
            ds_buf t = DS_BUF_INIT;
            decimal_format(&t, &r);
            decimal back;
            CHECK_EQ_INT(decimal_parse(t.data, t.len, &back), DS_OK);
            CHECK_EQ_INT(decimal_cmp(&back, &r), 0);
            ds_buf_free(&t);
        }
    }
}

TEST(random_wide_exponents_cmp) {
    /* same mantissas at exponents across the whole range: order by
     * (sign, exponent, digits) */
    for (int iter = 0; iter < 50000; iter++) {
        char ta[64], tb[64];
        int ea = (int)(rnd() % 250) - 125,
            eb = rnd() % 3 ? ea + (int)(rnd() % 3) - 1 : (int)(rnd() % 250) - 125;
        uint64_t ma = 1 + rnd() % 999, mb = 1 + rnd() % 999;
        snprintf(ta, sizeof ta, "%llue%d", (unsigned long long)ma, ea);
        snprintf(tb, sizeof tb, "%llue%d", (unsigned long long)mb, eb);
        decimal a, b;
        if (parse(ta, &a) || parse(tb, &b)) continue;
        /* compare ma*10^ea with mb*10^eb via shifting the smaller exponent */
        int low = ea < eb ? ea : eb;
        if (ea - low > 30 || eb - low > 30) {
            int want = (ea > eb) ? 1 : -1; /* 3-digit mantissas: 30 places apart decides */
            CHECK_EQ_INT(decimal_cmp(&a, &b), want);
            continue;
        }
        __int128 X = (__int128)ma * p10(ea - low), Y = (__int128)mb * p10(eb - low);
        CHECK_EQ_INT(decimal_cmp(&a, &b), X < Y ? -1 : X > Y);
    }
}

TEST_MAIN()
