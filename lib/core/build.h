/* build.h: building a template from a parent template and steps
 * (image/buildspec.h) in a hidden sandbox, with a layer cache
 * (image/buildlayers.h). */
#ifndef OC_CORE_BUILD_H
#define OC_CORE_BUILD_H

#include "core/sandbox.h"
#include "image/buildspec.h"

typedef void (*CoreBuildLog)(const char *line, gpointer user_data);

typedef struct {
    guint32 cpu_count;       /* of the build sandbox */
    guint32 memory_mb;
    guint32 step_timeout_s;  /* per RUN or APT step; 0: none */
    CoreBuildLog log;        /* may be NULL */
    gpointer log_data;
} CoreBuildOptions;

/* Builds template name from spec.  Checks the name and every step before
 * anything starts.  Steps whose layers are cached are not run (and no
 * sandbox boots when all are); the others run in a hidden sandbox on the
 * parent's disk or the last cached layer, which is removed on every path.
 * The new template appears whole or not at all; a failing step's error
 * names it, its exit code and its last lines of output. */
gboolean core_template_build(oc_context *ctx, const char *name, const BuildSpec *spec,
                             const CoreBuildOptions *opts, GError **error);

/* ---- shared by build.c and buildsteps.c ---- */

typedef struct {
    oc_context *ctx;
    const BuildSpec *spec;
    const CoreBuildOptions *opts;
    oc_sandbox *sb;       /* the build sandbox, once booted */
    GPtrArray *env;       /* "K=V": the template's environment so far */
    char *workdir;        /* NULL: none set */
    char *user;           /* NULL: root */
    char **agent;         /* the agent program and its arguments; NULL: none set */
    guint index;          /* the step being run, from 0 */
} BuildRun;

void build_log(BuildRun *b, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Whether a step of this kind changes the disk (and so makes a layer). */
gboolean build_step_changes_disk(const BuildStep *step);
/* Runs a disk-changing step in the build sandbox. */
gboolean build_step_run(BuildRun *b, const BuildStep *step, GError **error);
/* Flushes the guest's writes and freezes the sandbox's disk as layer key;
 * the sandbox goes on with a new overlay on it. */
gboolean build_layer_capture(BuildRun *b, const char *key, const char *what, GError **error);

#endif
