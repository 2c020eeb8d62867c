/* activity.h: each sandbox's idle clock and busy lock, shared by every
 * process on the host through one file in the sandbox's directory. */
#ifndef OC_CORE_ACTIVITY_H
#define OC_CORE_ACTIVITY_H

#include <glib.h>

/* Marks a call on the sandbox as in flight and restarts its idle clock.
 * Returns the descriptor to hand to core_activity_end(), or -1 if the file
 * cannot be used (the call goes on; the reaper then sees no activity).
 * *waited is set if the call had to wait for a hibernate to finish. */
int core_activity_begin(const char *state_dir, const char *id, gboolean *waited);
/* Restarts the idle clock and ends the call. */
void core_activity_end(int fd);
/* Restarts the idle clock (create, wake, set-timeout). */
void core_activity_touch(const char *state_dir, const char *id);
/* When the idle clock runs out (unix microseconds, as g_get_real_time()):
 * timeout_s after the last activity, or after fallback_s (unix seconds) if
 * there has been none.  Sub-second: whole seconds would let a sandbox go up
 * to a second early. */
gint64 core_activity_deadline_us(const char *state_dir, const char *id, gint64 fallback_s,
                                 guint32 timeout_s);
/* Takes the sandbox's busy lock exclusively, without waiting: a descriptor
 * to close when done, or -1 if a call is in flight (or the file is gone).
 * While held, calls that begin wait for it. */
int core_activity_lock_idle(const char *state_dir, const char *id);

#endif
