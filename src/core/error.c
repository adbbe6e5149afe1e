/*
 * error.c - the per-thread last-error message behind dc_last_error().
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];
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

static void set_msg(const char *fmt, va_list ap)
{
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
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
    char old[sizeof last_msg];
    va_list ap;
    memcpy(old, last_msg, sizeof old);
    va_start(ap, fmt);
    int k = vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    if ((size_t)k < sizeof last_msg - 1) {
        size_t room = sizeof last_msg - 1 - (size_t)k, n = strlen(old);
        memcpy(last_msg + k, old, n < room ? n : room);
        last_msg[(size_t)k + (n < room ? n : room)] = '\0';
    }
}
