/* One line per event, written with a single fputs so threads do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static void vlog(const char *level, const char *fmt, va_list ap) RELAYD_PRINTF(2, 0);

static void vlog(const char *level, const char *fmt, va_list ap)
{
    char line[512];
    struct tm tm;
    time_t now = time(NULL);
    size_t off = 0;

    if (gmtime_r(&now, &tm) != NULL)
        off = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    int n = snprintf(line + off, sizeof line - off, "secmsg-relay %s: ", level);
    if (n > 0 && (size_t)n < sizeof line - off)
        off += (size_t)n;
    n = vsnprintf(line + off, sizeof line - off, fmt, ap);
    if (n < 0)
        return;
    off = (size_t)n < sizeof line - off ? off + (size_t)n : sizeof line - 1;
    /* Keep one event on one line whatever the text held. */
    for (size_t i = 0; i < off; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    if (off > sizeof line - 2)
        off = sizeof line - 2;
    line[off] = '\n';
    line[off + 1] = '\0';
    fputs(line, stderr);
}

void relayd_log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("info", fmt, ap);
    va_end(ap);
}

void relayd_log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("error", fmt, ap);
    va_end(ap);
}
