/* buildspec.h: what a custom template is built from: a parent template and
 * ordered steps (run a command, install packages, copy host files in, set
 * the environment, working directory, user or agent program), from the API or from a
 * Dockerfile subset (dockerfile.c).  Also the content keys that cache a
 * build step by step: each step's key hashes the key before it, the step,
 * and the bytes it copies in, so a changed file rebuilds from its step on. */
#ifndef OC_IMAGE_BUILDSPEC_H
#define OC_IMAGE_BUILDSPEC_H

#include <glib.h>

typedef enum {
    BUILD_RUN = 1, /* args: a shell command line, or argv when exec_form */
    BUILD_APT,     /* args: package names (NAME, or NAME=VERSION) */
    BUILD_COPY,    /* args: sources (relative to the context) ..., destination */
    BUILD_ENV,     /* args: KEY, VALUE */
    BUILD_WORKDIR, /* args: an absolute path */
    BUILD_USER,    /* args: USER[:GROUP] */
    BUILD_AGENT,   /* args: the agent program's absolute path, its arguments */
} BuildStepKind;

typedef struct {
    BuildStepKind kind;
    char **args;       /* NULL-terminated */
    char **env;        /* RUN: "K=V" the build adds (a Dockerfile's ARGs), or NULL */
    gboolean exec_form; /* RUN ["prog", "arg"]: argv, no shell */
    char *chown;       /* COPY --chown=USER[:GROUP], or NULL */
    guint32 chmod;     /* COPY --chmod=MODE (octal), 0: keep the source's */
    guint line;        /* the Dockerfile line it came from, 0 if none */
} BuildStep;

typedef struct {
    char *parent;      /* the template it starts from */
    char *context_dir; /* where COPY sources are; NULL: none may be copied */
    GPtrArray *steps;  /* BuildStep */
} BuildSpec;

BuildSpec *build_spec_new(const char *parent, const char *context_dir);
void build_spec_free(BuildSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BuildSpec, build_spec_free)
/* Appends a step (args copied) and returns it, for the optional fields. */
BuildStep *build_spec_add(BuildSpec *spec, BuildStepKind kind, const char *const *args,
                          guint line);

/* A name a new template may take: [a-z0-9][a-z0-9._-]{0,63}. */
gboolean build_template_name_valid(const char *name, GError **error);
/* Checks every step as the build will use it (paths, names, sources inside
 * the context), before any sandbox is started; the error names the step. */
gboolean build_spec_validate(const BuildSpec *spec, GError **error);
/* "RUN apt-get install -y jq", as the build log and errors show a step. */
char *build_step_describe(const BuildStep *step);
/* Hex SHA-256 of (prev, step, and for COPY every byte, name, type and
 * mode it copies).  prev is the parent's version key for the first step. */
char *build_step_key(const char *prev, const BuildStep *step, const char *context_dir,
                     GError **error);

/* Parses a Dockerfile (FROM, RUN, COPY, ENV, WORKDIR, USER, ARG, and LABEL
 * for the agent program (BUILD_AGENT) only; comments,
 * line continuations, shell and exec forms; $VAR and ${VAR} in the
 * instructions Docker expands them in).  build_args ("K=V", NULL-terminated
 * or NULL) override ARG defaults.  The error names the line. */
#define OC_DOCKERFILE_AGENT_LABEL "opencomputer.agent"
BuildSpec *build_spec_from_dockerfile(const char *text, const char *context_dir,
                                      const char *const *build_args, GError **error);

#endif
