/* oc-build.c: public entry points of template builds. */
#include "core/build.h"
#include "oc-private.h"

G_STATIC_ASSERT((int)OC_BUILD_STEP_RUN == (int)BUILD_RUN &&
                (int)OC_BUILD_STEP_APT == (int)BUILD_APT &&
                (int)OC_BUILD_STEP_COPY == (int)BUILD_COPY &&
                (int)OC_BUILD_STEP_ENV == (int)BUILD_ENV &&
                (int)OC_BUILD_STEP_WORKDIR == (int)BUILD_WORKDIR &&
                (int)OC_BUILD_STEP_USER == (int)BUILD_USER &&
                (int)OC_BUILD_STEP_AGENT == (int)BUILD_AGENT);

OC_API int oc_template_build_options_init(oc_template_build_options *opts, uint32_t version)
{
    if (!opts || version != OC_TEMPLATE_BUILD_OPTIONS_VERSION)
        return OC_EINVAL;
    *opts = (oc_template_build_options)OC_TEMPLATE_BUILD_OPTIONS_INIT;
    return OC_OK;
}

/* The public steps as a BuildSpec: kinds and flags checked here, the rest
 * by build_spec_validate(). */
static BuildSpec *spec_from_steps(const oc_template_build_options *o, GError **error)
{
    g_autoptr(BuildSpec) spec = build_spec_new(o->parent ? o->parent : "base", o->context_dir);

    if (o->step_count && !o->steps) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "oc_template_build: step_count is %zu but "
                    "steps is NULL", o->step_count);
        return NULL;
    }
    for (size_t i = 0; i < o->step_count; i++) {
        const oc_build_step *s = &o->steps[i];
        if (s->kind < OC_BUILD_STEP_RUN || s->kind > OC_BUILD_STEP_AGENT) {
            g_set_error(error, OC_ERROR, OC_EINVAL, "oc_template_build: step %zu has unknown "
                        "kind %u; use an oc_build_step_kind", i + 1, s->kind);
            return NULL;
        }
        if (s->flags & ~OC_BUILD_STEP_EXEC_FORM ||
            (s->flags && s->kind != OC_BUILD_STEP_RUN)) {
            g_set_error(error, OC_ERROR, OC_EINVAL, "oc_template_build: step %zu has flags "
                        "0x%x; only a RUN step takes OC_BUILD_STEP_EXEC_FORM", i + 1, s->flags);
            return NULL;
        }
        /* The public kinds are the internal ones, number for number. */
        BuildStep *b = build_spec_add(spec, (BuildStepKind)s->kind, s->args, 0);
        b->exec_form = (s->flags & OC_BUILD_STEP_EXEC_FORM) != 0;
        b->chown = g_strdup(s->chown);
        b->chmod = s->chmod;
    }
    return g_steal_pointer(&spec);
}

OC_API int oc_template_build(oc_context *ctx, const char *name,
                             const oc_template_build_options *opts, oc_error **error)
{
    GError *err = NULL;
    g_autoptr(BuildSpec) spec = NULL;

    CHECK_ARG(ctx && name && opts, "oc_template_build: ctx, name and opts must not be NULL");
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_TEMPLATE_BUILD_OPTIONS_VERSION,
              "oc_template_build_options version %u is not supported; use "
              "OC_TEMPLATE_BUILD_OPTIONS_INIT", opts->version);
    CHECK_ARG(!opts->dockerfile || (!opts->steps && !opts->step_count && !opts->parent),
              "oc_template_build: give a Dockerfile (its FROM names the parent) or a parent "
              "and steps, not both");
    CHECK_ARG(opts->dockerfile || !opts->build_args,
              "oc_template_build: build_args are for a Dockerfile's ARGs; none was given");
    CoreBuildOptions o = {
        .cpu_count = opts->cpu_count, .memory_mb = opts->memory_mb,
        .step_timeout_s = opts->step_timeout_s, .log = opts->log,
        .log_data = opts->log_user_data,
    };
    if (opts->dockerfile)
        spec = build_spec_from_dockerfile(opts->dockerfile, opts->context_dir, opts->build_args,
                                          &err);
    else
        spec = spec_from_steps(opts, &err);
    if (!spec) {
        g_prefix_error(&err, "cannot build template %s: ", name);
        return oc_error_propagate(error, err);
    }
    if (!core_template_build(ctx, name, spec, &o, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}
