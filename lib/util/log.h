/* log.h: the library's logging.  Silent unless the application installs a
 * handler with oc_set_log_handler(); the library never prints. */
#ifndef OC_UTIL_LOG_H
#define OC_UTIL_LOG_H

#include <glib.h>

#include "opencomputer.h"

void log_set_handler(oc_log_fn fn, void *user_data, oc_destroy_notify destroy);
void log_msg(int level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#define log_debug(...) log_msg(OC_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(OC_LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(OC_LOG_WARNING, __VA_ARGS__)

#endif
