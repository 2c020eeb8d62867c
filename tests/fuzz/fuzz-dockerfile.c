/* fuzz-dockerfile.c: the Dockerfile subset parser (lib/image/dockerfile.c)
 * and the step checks on any text: what parses must validate or be refused
 * with a message, and every step must describe and key.  COPY sources are
 * looked up in a context directory that does not exist, so nothing is read. */
#include <glib.h>
#include <string.h>

#include "fuzz.h"
#include "image/buildspec.h"

static const char context[] = "/nonexistent/oc-fuzz-dockerfile";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    const char *build_args[] = { "A=1", "B=", NULL };
    g_autoptr(GError) err = NULL;
    g_autoptr(BuildSpec) spec = build_spec_from_dockerfile(text, context, build_args, &err);

    if (!spec) {
        g_assert(err && *err->message);
        return 0;
    }
    g_assert(spec->parent);
    if (!build_spec_validate(spec, &err))
        g_assert(err && *err->message);
    for (guint i = 0; i < spec->steps->len; i++) {
        const BuildStep *s = spec->steps->pdata[i];
        g_autofree char *d = build_step_describe(s);
        g_assert(d && strlen(d) <= 200);
        if (s->kind != BUILD_COPY) {
            g_autofree char *k = build_step_key("p", s, context, NULL);
            g_assert(k && strlen(k) == 64);
        }
    }
    return 0;
}
