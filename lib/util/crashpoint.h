/* crashpoint.h: labelled places where a test can kill the process, to show
 * that what a dead process leaves behind is recovered (docs/security.md,
 * "Crash safety").
 *
 * OC_CRASH_POINT=LABEL[,LABEL...] in the environment names the points at
 * which the process raises SIGKILL on itself.  Unset, a point costs one
 * load of a cached flag; the variable is read once per process. */
#ifndef OC_UTIL_CRASHPOINT_H
#define OC_UTIL_CRASHPOINT_H

#include <glib.h>

/* The label of a point is SCOPE.STEP ("create.defined"): scope names the
 * operation, which lets one piece of code (making a sandbox) serve as the
 * points of several (create, fork). */
void crash_point(const char *scope, const char *step);

/* A point inside a blocking call (a libvirt job): if SCOPE.STEP is named,
 * the process dies delay_ms after crash_timer_start(), or at
 * crash_timer_end() if the call returned sooner, so it always dies there. */
#define CRASH_TIMER_DELAY_MS 250
void crash_timer_start(const char *scope, const char *step);
void crash_timer_end(const char *scope, const char *step);

#endif
