/*
 * test_api.c - libdeepc.so exports the documented API and nothing else: every function it
 * exports is declared in include/deepc.h, and every function deepc.h declares is exported (so
 * none lacks its DC_API marker). Reads `nm -D --defined-only <build>/libdeepc.so`, <build> being
 * the folder of the deepc binary under test.
 */
#include "harness.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 2048

typedef struct names {
    char *v[MAX_NAMES];
    int n;
} names;

static int has(const names *l, const char *s, size_t len)
{
    for (int i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && !strncmp(l->v[i], s, len))
            return 1;
    return 0;
}

static void add(names *l, const char *s, size_t len)
{
    if (l->n < MAX_NAMES && !has(l, s, len)) {
        l->v[l->n] = malloc(len + 1);
        if (l->v[l->n]) {
            memcpy(l->v[l->n], s, len);
            l->v[l->n++][len] = '\0';
        }
    }
}

static void names_free(names *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
}

/* Blank out the comments of a C text in place. */
static void strip_comments(char *s)
{
    for (char *p = s; (p = strstr(p, "/*"));) {
        char *e = strstr(p + 2, "*/");
        char *end = e ? e + 2 : p + strlen(p);
        memset(p, ' ', (size_t)(end - p));
        p = end;
    }
}

/* The functions a header declares: dc_<name> followed by '(' (not '(*', a function-pointer
 * typedef returning a dc_ type), except static inline ones (in the header, not the library). */
static void declared(char *text, names *out)
{
    strip_comments(text);
    for (char *p = text; (p = strstr(p, "dc_"));) {
        if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) {
            p += 3;
            continue;
        }
        char *e = p;
        while (isalnum((unsigned char)*e) || *e == '_')
            e++;
        char *q = e;
        while (*q == ' ')
            q++;
        const char *line = p; /* the start of the declaration's line */
        while (line > text && line[-1] != '\n' && line[-1] != ';' && line[-1] != '}')
            line--;
        char head[160];
        snprintf(head, sizeof head, "%.*s", (int)(p - line < 159 ? p - line : 159), line);
        if (*q == '(' && q[1] != '*' && !strstr(head, "static inline"))
            add(out, p, (size_t)(e - p));
        p = e;
    }
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    size_t n = f && buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    if (f)
        fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

TEST(api_so_exports_exactly_the_header)
{
    char bin[400], cmd[600], line[512], report[4096] = "";
    snprintf(bin, sizeof bin, "%s", t_deepc_bin());
    char *slash = strrchr(bin, '/');
    snprintf(cmd, sizeof cmd, "nm -D --defined-only %.*s/libdeepc.so 2>&1",
             slash ? (int)(slash - bin) : 1, slash ? bin : ".");
    names hdr = {0}, exp = {0};
    char *text = read_all("include/deepc.h");
    CHECK(text && *text, "cannot read include/deepc.h");
    if (text)
        declared(text, &hdr);
    free(text);
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[256];
        if (sscanf(line, "%63s %7s %255s", addr, type, name) == 3 && strchr("TDBRVWiu", type[0]))
            add(&exp, name, strlen(name));
    }
    int rc = p ? pclose(p) : -1;
    CHECK(rc == 0 && exp.n > 100 && hdr.n > 100, "%s: exit %d, %d exported, %d declared", cmd, rc,
          exp.n, hdr.n);
    size_t len = 0;
    int extra = 0, missing = 0;
    for (int i = 0; i < exp.n; i++)
        if (strncmp(exp.v[i], "_init", 5) && strncmp(exp.v[i], "_fini", 5) &&
            !has(&hdr, exp.v[i], strlen(exp.v[i]))) {
            extra++;
            if (len + 1 < sizeof report)
                len += (size_t)snprintf(report + len, sizeof report - len, " +%s", exp.v[i]);
        }
    for (int i = 0; i < hdr.n; i++)
        if (!has(&exp, hdr.v[i], strlen(hdr.v[i]))) {
            missing++;
            if (len + 1 < sizeof report)
                len += (size_t)snprintf(report + len, sizeof report - len, " -%s", hdr.v[i]);
        }
    CHECK(extra == 0, "%d exported functions have no declaration in deepc.h (+) [hidden "
          "visibility, clones.map]:%s", extra, report);
    CHECK(missing == 0, "%d functions declared in deepc.h are not exported (-): add DC_API to "
          "their declarations (tools/mark_dc_api.py include/deepc.h):%s", missing, report);
    names_free(&hdr);
    names_free(&exp);
}

/* The checker sees a declaration without the marker as declared, so the test above fails when
 * it is not exported; comments and function-pointer typedefs are not declarations. */
TEST(api_declaration_parser)
{
    char text[] = "/* dc_in_comment(x) */\nDC_API int dc_a(void);\nvoid dc_b (int x);\n"
                  "typedef dc_status (*dc_fn)(int);\nstatic inline int dc_c(void) { return 0; }\n";
    names l = {0};
    declared(text, &l);
    CHECK(l.n == 2 && has(&l, "dc_a", 4) && has(&l, "dc_b", 4), "%d names: %s %s", l.n,
          l.n > 0 ? l.v[0] : "", l.n > 1 ? l.v[1] : "");
    names_free(&l);
}
