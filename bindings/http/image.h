/* image.h: the SDK's declarative images (Image.toJSON(): {base, steps,
 * builderMemoryMB}) as the library's build steps.  Kept apart from acting,
 * like body.c, so that tests/unit checks the mapping without a sandbox. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <opencomputer.h>

typedef struct {
    char *parent;       /* the manifest's base: the template built on */
    char *name;         /* "img-" and 32 hex digits of the content hash: same image, same name */
    char *hash;         /* the whole SHA-256, hex */
    GArray *steps;      /* oc_build_step, pointing into what follows */
    GPtrArray *args;    /* owns each step's GStrv */
    GPtrArray *files;   /* HttpImageFile: what add_file and add_dir put in the context */
    char *context_dir;  /* made by http_image_write_context(); NULL before */
    guint memory_mb;    /* builderMemoryMB, capped at OC_MAX_MEMORY_MB; 0: not given */
} HttpImage;

/* Parses and checks a manifest: a step the server cannot honour is an error
 * naming the step (400).  Nothing is written yet. */
gboolean http_image_parse(JsonObject *manifest, HttpImage *out, GError **error);
/* Writes the files the steps copy into a new temporary directory
 * (out->context_dir), which http_image_clear() removes. */
gboolean http_image_write_context(HttpImage *img, GError **error);
void http_image_clear(HttpImage *img);
