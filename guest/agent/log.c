/* log.c: the agent's log lines, to the console.  Apart from util.c so that a
 * fuzz target can link the agent's helpers with a quiet log of its own. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void agent_log(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    /* One write, so that lines from the agent stay whole on the console. */
    char line[600];
    int m = snprintf(line, sizeof line, "oc-agent: %.*s", n, buf);
    if (m > 0 && write(2, line, (size_t)m < sizeof line ? (size_t)m : sizeof line - 1) < 0) {
        /* nowhere left to report it */
    }
}
