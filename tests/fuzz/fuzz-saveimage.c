/* fuzz-saveimage.c: the save image head parser (a checkpoint's memory
 * image is read back from disk, where anything may have damaged it) and the
 * head rewrite a fork sends libvirt: whatever parses must rewrite and parse
 * back to the same XML and cookie. */
#include <string.h>

#include "fuzz.h"
#include "virt/saveimage.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *err = NULL;
    gsize need = 0, len;
    VirtSaveImage *img = virt_save_image_parse(data, size, &need, &err), *back;
    GBytes *head;
    const guint8 *p;

    g_clear_error(&err);
    if (!img) {
        if (need > size)
            g_assert(need >= 92); /* asks for more only beyond the fixed header */
        return 0;
    }
    g_assert(img->stream_offset <= size);
    head = virt_save_image_head(img, img->xml);
    p = g_bytes_get_data(head, &len);
    back = virt_save_image_parse(p, len, &need, &err);
    /* the new head alone ends where the stream starts: parsed in full */
    g_assert(back && !err);
    g_assert(strcmp(back->xml, img->xml) == 0);
    g_assert(g_strcmp0(back->cookie, img->cookie) == 0);
    g_assert(back->stream_offset == len);
    virt_save_image_free(back);
    virt_save_image_free(img);
    g_bytes_unref(head);
    return 0;
}
