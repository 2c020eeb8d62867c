/* replay.c: runs a fuzz target over files and directories of inputs (the
 * seed corpus and every input that once crashed), without libFuzzer: the
 * regression test of each target.  TAP on stdout. */
#include <glib.h>
#include <stdio.h>

#include "fuzz.h"

static int run_file(const char *path, int *n)
{
    g_autofree char *data = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &data, &len, NULL)) {
        printf("not ok %d - cannot read %s\n", ++*n, path);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    printf("ok %d - %s (%zu bytes)\n", ++*n, path, (size_t)len);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 0, failed = 0;

    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        GDir *d = g_dir_open(argv[i], 0, NULL);
        const char *name;
        if (!d) {
            failed += run_file(argv[i], &n);
            continue;
        }
        while ((name = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(argv[i], name, NULL);
            failed += run_file(p, &n);
        }
        g_dir_close(d);
    }
    printf("1..%d\n", n);
    return failed ? 1 : 0;
}
