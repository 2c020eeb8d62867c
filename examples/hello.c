/* hello.c: the quick start.  Creates a sandbox, runs a command in it,
 * prints what the command printed, and kills the sandbox.
 *
 *   cc hello.c $(pkg-config --cflags --libs opencomputer) -o hello
 */
#include <opencomputer.h>
#include <stdio.h>

static int fail(const char *what, oc_error *err)
{
    fprintf(stderr, "hello: %s: %s\n", what, oc_error_message(err));
    oc_error_free(err);
    return 1;
}

int main(void)
{
    oc_context *ctx = NULL;
    oc_sandbox *sandbox = NULL;
    oc_exec_result *result = NULL;
    oc_error *err = NULL;
    int rc = 0;

    if (oc_context_new(&ctx, NULL, &err) < 0)
        return fail("cannot start", err);
    if (oc_sandbox_create(&sandbox, ctx, NULL, &err) < 0) {
        rc = fail("cannot create a sandbox", err);
        goto out;
    }
    if (oc_exec_run(&result, sandbox, "echo Hello from $(uname -a)", NULL, &err) < 0)
        rc = fail("cannot run the command", err);
    else
        fputs(oc_exec_result_stdout(result, NULL), stdout);
    oc_exec_result_free(result);
    if (oc_sandbox_kill(sandbox, 0, &err) < 0)
        rc = fail("cannot kill the sandbox", err);
out:
    oc_sandbox_unref(sandbox);
    oc_context_unref(ctx);
    return rc;
}
