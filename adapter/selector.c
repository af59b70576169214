/* Label selectors: a port of the lexer and recursive-descent parser of k8s.io/apimachinery
 * labels.Parse (same tokens, same contexts, same error texts where it matters), the matching
 * rules of labels.Requirement.Matches, and a metav1.LabelSelector JSON writer. */
#include "selector.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest token text quoted back in an error message. */
#define LIT_MAX 64

typedef enum {
        T_EOS,
        T_CLOSE, /* ) */
        T_COMMA, /* , */
        T_NOT,   /* ! */
        T_DEQ,   /* == */
        T_EQ,    /* = */
        T_GT,    /* > */
        T_ID,
        T_IN,    /* in */
        T_LT,    /* < */
        T_NEQ,   /* != */
        T_NOTIN, /* notin */
        T_OPEN   /* ( */
} tok_t;

/* apimachinery lexes `in`/`notin` as keywords, but where a value or key is expected (the
 * "Values" context) they are plain identifiers, so `in in (in)` is a valid selector. */
typedef enum { CTX_KEY_AND_OPERATOR, CTX_VALUES } ctx_t;

typedef struct {
        tok_t t;
        const char *lit; /* points into the input */
        size_t len;
} token_t;

typedef struct {
        const char *s;
        size_t pos;
        token_t cur; /* one token of lookahead */
        char *errstr;
        size_t errstr_size;
} parser_t;

static void seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
{
        va_list ap;

        if (!errstr || !errstr_size)
                return;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}

static int is_space(int c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_special(int c)
{
        return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

static int is_alnum(int c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_lower_alnum(int c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static void lex(parser_t *p)
{
        const char *s = p->s;
        size_t start;

        while (is_space((unsigned char)s[p->pos]))
                p->pos++;
        start = p->pos;
        p->cur.lit = s + start;
        if (s[start] == '\0') {
                p->cur.t = T_EOS;
                p->cur.len = 0;
                return;
        }
        if (is_special((unsigned char)s[start])) {
                /* Longest match, and the only two-byte symbols are "==" and "!=". */
                char c = s[start], n = s[start + 1];

                p->cur.len = 1;
                switch (c) {
                case '=':
                        p->cur.t = T_EQ;
                        if (n == '=') {
                                p->cur.t = T_DEQ;
                                p->cur.len = 2;
                        }
                        break;
                case '!':
                        p->cur.t = T_NOT;
                        if (n == '=') {
                                p->cur.t = T_NEQ;
                                p->cur.len = 2;
                        }
                        break;
                case '(':
                        p->cur.t = T_OPEN;
                        break;
                case ')':
                        p->cur.t = T_CLOSE;
                        break;
                case ',':
                        p->cur.t = T_COMMA;
                        break;
                case '>':
                        p->cur.t = T_GT;
                        break;
                default:
                        p->cur.t = T_LT;
                        break;
                }
                p->pos += p->cur.len;
                return;
        }
        /* Anything else up to whitespace or a symbol is an identifier; bad bytes are caught
         * by key/value validation, as in apimachinery. */
        while (s[p->pos] && !is_space((unsigned char)s[p->pos]) &&
               !is_special((unsigned char)s[p->pos]))
                p->pos++;
        p->cur.len = p->pos - start;
        p->cur.t = T_ID;
        if (p->cur.len == 2 && !memcmp(p->cur.lit, "in", 2))
                p->cur.t = T_IN;
        else if (p->cur.len == 5 && !memcmp(p->cur.lit, "notin", 5))
                p->cur.t = T_NOTIN;
}

static tok_t peek(const parser_t *p, ctx_t ctx)
{
        if (ctx == CTX_VALUES && (p->cur.t == T_IN || p->cur.t == T_NOTIN))
                return T_ID;
        return p->cur.t;
}

/* Returns the current token (context-adjusted) and advances. */
static token_t consume(parser_t *p, ctx_t ctx)
{
        token_t tk = p->cur;

        tk.t = peek(p, ctx);
        lex(p);
        return tk;
}

static int lit_len(const token_t *tk)
{
        return (int)(tk->len > LIT_MAX ? LIT_MAX : tk->len);
}

/* IsQualifiedName's name part: 1..63 of [A-Za-z0-9._-], alphanumeric at both ends.
 * @returns NULL if valid, else the reason. */
static const char *check_name_part(const char *s, size_t len)
{
        if (len == 0)
                return "name part must be non-empty";
        if (len > 63)
                return "name part must be no more than 63 characters";
        for (size_t i = 0; i < len; i++) {
                int c = (unsigned char)s[i];

                if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
                        goto bad;
        }
        if (!is_alnum((unsigned char)s[0]) || !is_alnum((unsigned char)s[len - 1]))
                goto bad;
        return NULL;
bad:
        return "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
               "start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or "
               "'123-abc', regex used for validation is "
               "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
}

/* IsDNS1123Subdomain: <= 253, dot-separated labels of [a-z0-9-], alphanumeric at both ends. */
static const char *check_dns1123_subdomain(const char *s, size_t len)
{
        size_t lab = 0; /* start of the current label */

        if (len > 253)
                return "prefix part must be no more than 253 characters";
        for (size_t i = 0; i <= len; i++) {
                if (i == len || s[i] == '.') {
                        if (i == lab || !is_lower_alnum((unsigned char)s[lab]) ||
                            !is_lower_alnum((unsigned char)s[i - 1]))
                                goto bad;
                        lab = i + 1;
                } else if (!is_lower_alnum((unsigned char)s[i]) && s[i] != '-') {
                        goto bad;
                }
        }
        return NULL;
bad:
        return "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
               "alphanumeric characters, '-' or '.', and must start and end with an "
               "alphanumeric character (e.g. 'example.com', regex used for validation is "
               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
}

/* IsQualifiedName: [prefix/]name. */
static const char *check_key(const char *s, size_t len)
{
        const char *slash = memchr(s, '/', len);

        if (!slash)
                return check_name_part(s, len);
        if (memchr(slash + 1, '/', len - (size_t)(slash - s) - 1))
                return "a qualified name must consist of alphanumeric characters, '-', '_' or "
                       "'.', and must start and end with an alphanumeric character with an "
                       "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
        if (slash == s)
                return "prefix part must be non-empty";
        const char *why = check_dns1123_subdomain(s, (size_t)(slash - s));
        if (why)
                return why;
        return check_name_part(slash + 1, len - (size_t)(slash - s) - 1);
}

/* IsValidLabelValue: empty, or 1..63 like a name part. */
static const char *check_value(const char *s)
{
        size_t len = strlen(s);

        if (len == 0)
                return NULL;
        if (len > 63)
                return "must be no more than 63 characters";
        if (check_name_part(s, len))
                return "a valid label must be an empty string or consist of alphanumeric "
                       "characters, '-', '_' or '.', and must start and end with an "
                       "alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345', "
                       "regex used for validation is "
                       "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
        return NULL;
}

/* strconv.ParseInt(s, 10, 64): optional sign, at least one digit, no overflow. */
static int parse_int64(const char *s, int64_t *out)
{
        int neg = 0;
        uint64_t v = 0, lim;

        if (*s == '+' || *s == '-')
                neg = *s++ == '-';
        if (!*s)
                return -1;
        lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -1;
                if (v > (lim - (uint64_t)(*s - '0')) / 10)
                        return -1;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        if (neg)
                *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        else
                *out = (int64_t)v;
        return 0;
}

static void req_free(kos_sel_req_t *r)
{
        free(r->key);
        for (size_t i = 0; i < r->n_values; i++)
                free(r->values[i]);
        free(r->values);
        memset(r, 0, sizeof(*r));
}

void kos_selector_destroy(kos_selector_t *sel)
{
        if (!sel)
                return;
        for (size_t i = 0; i < sel->n_reqs; i++)
                req_free(&sel->reqs[i]);
        free(sel->reqs);
        free(sel);
}

/* Appends a copy of the token text to r->values. */
static int add_value(parser_t *p, kos_sel_req_t *r, const char *s, size_t len)
{
        char **nv;

        if (r->n_values >= KOS_SELECTOR_MAX_VALUES) {
                seterr(p->errstr, p->errstr_size, "too many values for key \"%s\" (limit %d)",
                       r->key, KOS_SELECTOR_MAX_VALUES);
                return -1;
        }
        nv = kos_xrealloc(r->values, (r->n_values + 1) * sizeof(*nv));
        r->values = nv;
        nv[r->n_values++] = kos_xstrndup(s, len);
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Values are a set in apimachinery: sort them and drop duplicates. */
static void sort_values(kos_sel_req_t *r)
{
        size_t j = 0;

        if (r->n_values < 2)
                return;
        qsort(r->values, r->n_values, sizeof(*r->values), cmp_str);
        for (size_t i = 1; i < r->n_values; i++) {
                if (!strcmp(r->values[i], r->values[j]))
                        free(r->values[i]);
                else
                        r->values[++j] = r->values[i];
        }
        r->n_values = j + 1;
}

/* "(" identifier list ")". `()` and empty items stand for the empty value. */
static int parse_values(parser_t *p, kos_sel_req_t *r)
{
        token_t tk = consume(p, CTX_VALUES);
        int empty_added = 0;

        if (tk.t != T_OPEN) {
                seterr(p->errstr, p->errstr_size, "found '%.*s' expected: '('", lit_len(&tk),
                       tk.lit);
                return -1;
        }
        switch (peek(p, CTX_VALUES)) {
        case T_CLOSE:
                consume(p, CTX_VALUES);
                return add_value(p, r, "", 0);
        case T_ID:
        case T_COMMA:
                break;
        default:
                seterr(p->errstr, p->errstr_size, "found '%.*s', expected: ',', ')' or identifier",
                       lit_len(&p->cur), p->cur.lit);
                return -1;
        }
        for (;;) {
                tk = consume(p, CTX_VALUES);
                if (tk.t == T_ID) {
                        if (add_value(p, r, tk.lit, tk.len) < 0)
                                return -1;
                        tok_t n = peek(p, CTX_VALUES);
                        if (n == T_COMMA)
                                continue;
                        if (n == T_CLOSE)
                                break;
                        seterr(p->errstr, p->errstr_size, "found '%.*s', expected: ',' or ')'",
                               lit_len(&p->cur), p->cur.lit);
                        return -1;
                } else if (tk.t == T_COMMA) {
                        /* A comma with nothing before or after it contributes "". */
                        tok_t n = peek(p, CTX_VALUES);
                        int empty = r->n_values == 0 || n == T_CLOSE || n == T_COMMA;

                        if (empty && !empty_added) {
                                if (add_value(p, r, "", 0) < 0)
                                        return -1;
                                empty_added = 1;
                        }
                        if (n == T_CLOSE)
                                break;
                        if (n == T_COMMA)
                                consume(p, CTX_VALUES);
                } else {
                        seterr(p->errstr, p->errstr_size,
                               "found '%.*s', expected: ',', or identifier", lit_len(&tk), tk.lit);
                        return -1;
                }
        }
        tk = consume(p, CTX_VALUES);
        if (tk.t != T_CLOSE) {
                seterr(p->errstr, p->errstr_size, "found '%.*s', expected: ')'", lit_len(&tk),
                       tk.lit);
                return -1;
        }
        return 0;
}

/* The single value after =, ==, !=, >, <; nothing before ',' or the end is the empty value. */
static int parse_exact_value(parser_t *p, kos_sel_req_t *r)
{
        token_t tk;
        tok_t t = peek(p, CTX_VALUES);

        if (t == T_EOS || t == T_COMMA)
                return add_value(p, r, "", 0);
        tk = consume(p, CTX_VALUES);
        if (tk.t != T_ID) {
                seterr(p->errstr, p->errstr_size, "found '%.*s', expected: identifier",
                       lit_len(&tk), tk.lit);
                return -1;
        }
        return add_value(p, r, tk.lit, tk.len);
}

static int parse_requirement(parser_t *p, kos_sel_req_t *r)
{
        token_t tk = consume(p, CTX_VALUES);
        int not_exists = 0;
        const char *why;

        if (tk.t == T_NOT) {
                not_exists = 1;
                tk = consume(p, CTX_VALUES);
        }
        if (tk.t != T_ID) {
                seterr(p->errstr, p->errstr_size, "found '%.*s', expected: identifier",
                       lit_len(&tk), tk.lit);
                return -1;
        }
        if ((why = check_key(tk.lit, tk.len))) {
                seterr(p->errstr, p->errstr_size, "invalid label key \"%.*s\": %s", lit_len(&tk),
                       tk.lit, why);
                return -1;
        }
        r->key = kos_xstrndup(tk.lit, tk.len);
        /* `!k` ends the requirement whatever follows; the caller then wants ',' or the end. */
        if (not_exists) {
                r->op = KOS_SEL_NOT_EXISTS;
                return 0;
        }
        tok_t n = peek(p, CTX_VALUES);
        if (n == T_EOS || n == T_COMMA) {
                r->op = KOS_SEL_EXISTS;
                return 0;
        }

        tk = consume(p, CTX_KEY_AND_OPERATOR);
        int rc;
        switch (tk.t) {
        case T_IN:
        case T_NOTIN:
                r->op = tk.t == T_IN ? KOS_SEL_IN : KOS_SEL_NOTIN;
                rc = parse_values(p, r);
                break;
        case T_EQ:
        case T_DEQ:
        case T_NEQ:
        case T_GT:
        case T_LT:
                r->op = tk.t == T_NEQ  ? KOS_SEL_NEQ
                        : tk.t == T_GT ? KOS_SEL_GT
                        : tk.t == T_LT ? KOS_SEL_LT
                                       : KOS_SEL_EQ;
                rc = parse_exact_value(p, r);
                break;
        default:
                seterr(p->errstr, p->errstr_size,
                       "found '%.*s', expected: in, notin, =, ==, !=, gt, lt", lit_len(&tk),
                       tk.lit);
                return -1;
        }
        if (rc < 0)
                return -1;

        for (size_t i = 0; i < r->n_values; i++) {
                int64_t dummy;

                if ((r->op == KOS_SEL_GT || r->op == KOS_SEL_LT) &&
                    parse_int64(r->values[i], &dummy) < 0) {
                        seterr(p->errstr, p->errstr_size,
                               "invalid value \"%.*s\" for key \"%s\": for 'Gt', 'Lt' "
                               "operators, the value must be an integer",
                               LIT_MAX, r->values[i], r->key);
                        return -1;
                }
                if ((why = check_value(r->values[i]))) {
                        seterr(p->errstr, p->errstr_size,
                               "invalid label value: \"%.*s\": at key: \"%s\": %s", LIT_MAX,
                               r->values[i], r->key, why);
                        return -1;
                }
        }
        sort_values(r);
        return 0;
}

static int add_requirement(parser_t *p, kos_selector_t *sel)
{
        kos_sel_req_t *nr;

        if (sel->n_reqs >= KOS_SELECTOR_MAX_REQS) {
                seterr(p->errstr, p->errstr_size, "too many requirements (limit %d)",
                       KOS_SELECTOR_MAX_REQS);
                return -1;
        }
        nr = kos_xrealloc(sel->reqs, (sel->n_reqs + 1) * sizeof(*nr));
        sel->reqs = nr;
        memset(&nr[sel->n_reqs], 0, sizeof(*nr));
        sel->n_reqs++; /* counted now so destroy frees a half-built requirement */
        if (parse_requirement(p, &nr[sel->n_reqs - 1]) < 0) {
                /* apimachinery wraps every requirement error this way. */
                char inner[512];

                snprintf(inner, sizeof(inner), "%s", p->errstr ? p->errstr : "");
                seterr(p->errstr, p->errstr_size, "unable to parse requirement: %s", inner);
                return -1;
        }
        return 0;
}

/* apimachinery sorts requirements by key; a stable insertion sort keeps same-key order. */
static void sort_reqs(kos_selector_t *sel)
{
        for (size_t i = 1; i < sel->n_reqs; i++) {
                kos_sel_req_t r = sel->reqs[i];
                size_t j = i;

                while (j > 0 && strcmp(sel->reqs[j - 1].key, r.key) > 0) {
                        sel->reqs[j] = sel->reqs[j - 1];
                        j--;
                }
                sel->reqs[j] = r;
        }
}

kos_selector_t *kos_selector_parse(const char *text, char *errstr, size_t errstr_size)
{
        char local_err[512];
        parser_t p = {.s = text};
        kos_selector_t *sel;
        size_t len;

        /* Requirement errors are rewritten through errstr, so always have one. */
        if (!errstr || errstr_size == 0) {
                errstr = local_err;
                errstr_size = sizeof(local_err);
        }
        errstr[0] = '\0';
        p.errstr = errstr;
        p.errstr_size = errstr_size;
        if (!text) {
                seterr(errstr, errstr_size, "no selector text");
                return NULL;
        }
        len = strnlen(text, KOS_SELECTOR_MAX_LEN + 1);
        if (len > KOS_SELECTOR_MAX_LEN) {
                seterr(errstr, errstr_size, "selector too long (limit %d bytes)",
                       KOS_SELECTOR_MAX_LEN);
                return NULL;
        }
        sel = kos_xcalloc(1, sizeof(*sel));

        lex(&p);
        for (;;) {
                tok_t t = peek(&p, CTX_VALUES);
                token_t tk;

                if (t == T_EOS)
                        break;
                if (t != T_ID && t != T_NOT) {
                        seterr(errstr, errstr_size,
                               "found '%.*s', expected: !, identifier, or 'end of string'",
                               lit_len(&p.cur), p.cur.lit);
                        goto fail;
                }
                if (add_requirement(&p, sel) < 0)
                        goto fail;
                tk = consume(&p, CTX_VALUES);
                if (tk.t == T_EOS)
                        break;
                if (tk.t != T_COMMA) {
                        seterr(errstr, errstr_size,
                               "found '%.*s', expected: ',' or 'end of string'", lit_len(&tk),
                               tk.lit);
                        goto fail;
                }
                t = peek(&p, CTX_VALUES);
                if (t != T_ID && t != T_NOT) {
                        seterr(errstr, errstr_size, "found '%.*s', expected: identifier after ','",
                               lit_len(&p.cur), p.cur.lit);
                        goto fail;
                }
        }
        sort_reqs(sel);
        return sel;
fail:
        kos_selector_destroy(sel);
        return NULL;
}

static int req_has_value(const kos_sel_req_t *r, const char *v)
{
        for (size_t i = 0; i < r->n_values; i++)
                if (!strcmp(r->values[i], v))
                        return 1;
        return 0;
}

static int req_matches(const kos_sel_req_t *r, const char *v)
{
        int64_t have, want;

        switch (r->op) {
        case KOS_SEL_EQ:
        case KOS_SEL_IN:
                return v && req_has_value(r, v);
        case KOS_SEL_NEQ:
        case KOS_SEL_NOTIN:
                return !v || !req_has_value(r, v);
        case KOS_SEL_EXISTS:
                return v != NULL;
        case KOS_SEL_NOT_EXISTS:
                return v == NULL;
        case KOS_SEL_GT:
        case KOS_SEL_LT:
                if (!v || r->n_values != 1 || parse_int64(v, &have) < 0 ||
                    parse_int64(r->values[0], &want) < 0)
                        return 0;
                return r->op == KOS_SEL_GT ? have > want : have < want;
        }
        return 0;
}

int kos_selector_matches(const kos_selector_t *sel, kos_label_get_fn get, void *opaque)
{
        if (!sel)
                return 1;
        for (size_t i = 0; i < sel->n_reqs; i++) {
                const kos_sel_req_t *r = &sel->reqs[i];
                const char *v = get ? get(opaque, r->key) : NULL;

                if (!req_matches(r, v))
                        return 0;
        }
        return 1;
}

const char *kos_selector_equals_value(const kos_selector_t *sel, const char *key)
{
        if (!sel || !key)
                return NULL;
        for (size_t i = 0; i < sel->n_reqs; i++) {
                const kos_sel_req_t *r = &sel->reqs[i];

                if ((r->op == KOS_SEL_EQ || r->op == KOS_SEL_IN) && r->n_values == 1 &&
                    !strcmp(r->key, key))
                        return r->values[0];
        }
        return NULL;
}

/* A bounded string builder; overflow is sticky and reported once at the end. */
typedef struct {
        char *buf;
        size_t size, len;
        int overflow;
} jw_t;

static void jw_raw(jw_t *w, const char *s, size_t n)
{
        if (w->overflow || w->size - w->len <= n) {
                w->overflow = 1;
                return;
        }
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->buf[w->len] = '\0';
}

static void jw_lit(jw_t *w, const char *s)
{
        jw_raw(w, s, strlen(s));
}

/* Parsed keys and values never need escaping, but the struct is public, so escape anyway. */
static void jw_str(jw_t *w, const char *s)
{
        static const char hex[] = "0123456789abcdef";

        jw_raw(w, "\"", 1);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c == '"' || c == '\\') {
                        char e[2] = {'\\', (char)c};
                        jw_raw(w, e, 2);
                } else if (c < 0x20 || c == 0x7f) {
                        char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                        jw_raw(w, e, 6);
                } else {
                        jw_raw(w, (const char *)&c, 1);
                }
        }
        jw_raw(w, "\"", 1);
}

/* The first equality requirement on a key goes to matchLabels; later ones cannot. */
static int is_match_label(const kos_selector_t *sel, size_t i)
{
        if (sel->reqs[i].op != KOS_SEL_EQ || sel->reqs[i].n_values != 1)
                return 0;
        for (size_t j = 0; j < i; j++)
                if (sel->reqs[j].op == KOS_SEL_EQ && sel->reqs[j].n_values == 1 &&
                    !strcmp(sel->reqs[j].key, sel->reqs[i].key))
                        return 0;
        return 1;
}

static const char *json_operator(kos_sel_op_t op)
{
        switch (op) {
        case KOS_SEL_EQ:
        case KOS_SEL_IN:
                return "In";
        case KOS_SEL_NEQ:
        case KOS_SEL_NOTIN:
                return "NotIn";
        case KOS_SEL_EXISTS:
                return "Exists";
        case KOS_SEL_NOT_EXISTS:
                return "DoesNotExist";
        case KOS_SEL_GT:
                return "Gt";
        case KOS_SEL_LT:
                return "Lt";
        }
        return "In";
}

int kos_selector_to_json(const kos_selector_t *sel, char *buf, size_t size)
{
        jw_t w = {.buf = buf, .size = size};
        size_t n_labels = 0, n_exprs = 0;

        if (!buf || size == 0)
                return -1;
        buf[0] = '\0';
        if (!sel || sel->n_reqs == 0) {
                jw_lit(&w, "null");
                return w.overflow ? -1 : (int)w.len;
        }
        jw_lit(&w, "{");
        for (size_t i = 0; i < sel->n_reqs; i++) {
                if (!is_match_label(sel, i))
                        continue;
                jw_lit(&w, n_labels++ ? "," : "\"matchLabels\":{");
                jw_str(&w, sel->reqs[i].key);
                jw_lit(&w, ":");
                jw_str(&w, sel->reqs[i].values[0]);
        }
        if (n_labels)
                jw_lit(&w, "}");
        for (size_t i = 0; i < sel->n_reqs; i++) {
                const kos_sel_req_t *r = &sel->reqs[i];

                if (is_match_label(sel, i))
                        continue;
                if (n_exprs++)
                        jw_lit(&w, ",");
                else
                        jw_lit(&w, n_labels ? ",\"matchExpressions\":[" : "\"matchExpressions\":[");
                jw_lit(&w, "{\"key\":");
                jw_str(&w, r->key);
                jw_lit(&w, ",\"operator\":\"");
                jw_lit(&w, json_operator(r->op));
                jw_lit(&w, "\"");
                if (r->n_values) {
                        jw_lit(&w, ",\"values\":[");
                        for (size_t v = 0; v < r->n_values; v++) {
                                if (v)
                                        jw_lit(&w, ",");
                                jw_str(&w, r->values[v]);
                        }
                        jw_lit(&w, "]");
                }
                jw_lit(&w, "}");
        }
        if (n_exprs)
                jw_lit(&w, "]");
        jw_lit(&w, "}");
        if (w.overflow || w.len > (size_t)INT32_MAX) {
                buf[0] = '\0';
                return -1;
        }
        return (int)w.len;
}
