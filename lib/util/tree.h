/* tree.h: removing a directory tree (a template aside, an extracted root
 * filesystem). */
#ifndef OC_UTIL_TREE_H
#define OC_UTIL_TREE_H

#include <glib.h>

/* Removes path and everything under it, never following a symlink; a path
 * that is already gone is no error. */
gboolean tree_remove(const char *path, GError **error);

#endif
