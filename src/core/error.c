/*
 * error.c - the per-thread last-error message behind dc_last_error().
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for two paths of PATH_MAX bytes and the words around them. A longer message keeps its
 * start and its end around " ... " (store_msg), so the reason, which comes last, is never cut. */
#define MSG_CAP 12288
static _Thread_local char last_msg[MSG_CAP];
static _Thread_local dc_status last_status;
const char *dc_last_error(void) { return last_msg; }

dc_status dc_last_status(void) { return last_msg[0] ? last_status : DC_OK; }

void dc_clear_error(void)
{
    last_msg[0] = '\0';
    last_status = DC_OK;
}

const char *dc_status_str(dc_status s)
{
    switch (s) {
    case DC_OK: return "ok";
    case DC_ERR_ARG: return "bad argument";
    case DC_ERR_SHAPE: return "shape error";
    case DC_ERR_DTYPE: return "dtype error";
    case DC_ERR_NOMEM: return "out of memory";
    case DC_ERR_IO: return "i/o error";
    case DC_ERR_FORMAT: return "format error";
    case DC_ERR_NUMERIC: return "non-finite value";
    case DC_ERR_STATE: return "bad state";
    }
    return "unknown error";
}

/* Make text[0..n) the message; when it does not fit, its first quarter and its end are kept
 * around " ... " (a long path loses its middle, never the reason). */
static void store_msg(const char *text, size_t n)
{
    if (n < MSG_CAP) {
        memmove(last_msg, text, n);
        last_msg[n] = '\0';
        return;
    }
    static const char gap[] = " ... ";
    size_t head = MSG_CAP / 4, tail = MSG_CAP - 1 - head - (sizeof gap - 1);
    memmove(last_msg, text, head);
    memcpy(last_msg + head, gap, sizeof gap - 1);
    memcpy(last_msg + head + sizeof gap - 1, text + n - tail, tail);
    last_msg[MSG_CAP - 1] = '\0';
}

/* Format into a heap buffer (NULL when out of memory); *n receives the length. */
static char *format(size_t *n, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int k = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    char *p = k >= 0 ? malloc((size_t)k + 1) : NULL;
    if (p)
        vsnprintf(p, (size_t)k + 1, fmt, ap);
    *n = p ? (size_t)k : 0;
    return p;
}

/* Formatted first into a buffer of its own: an argument may be dc_last_error() itself. */
static void set_msg(const char *fmt, va_list ap)
{
    char buf[MSG_CAP];
    va_list aq;
    va_copy(aq, ap);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    if (k < 0)
        k = 0, buf[0] = '\0';
    char *p = NULL;
    size_t n = (size_t)k;
    if (n >= sizeof buf) /* too long: format it whole, then keep its start and its end */
        p = format(&n, fmt, aq);
    va_end(aq);
    if (p)
        store_msg(p, n);
    else
        store_msg(buf, n < sizeof buf ? n : sizeof buf - 1);
    free(p);
}

dc_status dc_err(dc_status s, const char *fmt, ...)
{
    last_status = s;
    va_list ap;
    va_start(ap, fmt);
    set_msg(fmt, ap);
    va_end(ap);
    return s;
}

void *dc_err_null(dc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_msg(fmt, ap);
    va_end(ap);
    last_status = s;
    return NULL;
}

void dc_err_prefix(const char *fmt, ...)
{
    size_t np, no = strlen(last_msg);
    va_list ap;
    va_start(ap, fmt);
    char *pre = format(&np, fmt, ap);
    va_end(ap);
    char *all = pre ? malloc(np + no + 1) : NULL;
    if (all) {
        memcpy(all, pre, np);
        memcpy(all + np, last_msg, no + 1);
        store_msg(all, np + no);
    }
    free(all);
    free(pre);
}
