/*
 * error.c - the per-thread last-error message behind dc_last_error().
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];

const char *dc_last_error(void) { return last_msg; }

void dc_clear_error(void) { last_msg[0] = '\0'; }

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

static void set_msg(const char *fmt, va_list ap)
{
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
}

dc_status dc_err(dc_status s, const char *fmt, ...)
{
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
    (void)s;
    return NULL;
}

void dc_err_prefix(const char *fmt, ...)
{
    char old[sizeof last_msg], pre[512];
    va_list ap;
    memcpy(old, last_msg, sizeof old);
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(last_msg, sizeof last_msg, "%s%s", pre, old);
}
