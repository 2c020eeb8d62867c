/* build.h: template builds for the routes that make them (POST /templates,
 * a create with an image, POST /snapshots), with their log streamed to a
 * client that accepts events (sse.h) and one reply at the end either way. */
#pragma once

#include "server.h"
#include "image.h"
#include "sse.h"

typedef struct {
    HttpRequest *r;
    gboolean want_sse;    /* the client accepts an event stream */
    HttpSse *sse;         /* the event stream once started; NULL: a plain reply */
    guint stream_status;  /* the stream's status, when one starts */
    guint step;           /* the step the log is at, for build_log events */
} HttpBuildJob;

typedef enum {
    HTTP_BUILD_REFUSE_EXISTING, /* a template of that name: 409, build nothing */
    HTTP_BUILD_REUSE_EXISTING,  /* a template of that name is the build's result ("cached") */
} HttpBuildExisting;

void http_build_job_init(HttpBuildJob *job, HttpRequest *r, guint stream_status);
/* Builds template name as opts says (its log goes to the job), one build
 * of this server at a time.  FALSE with the job failed (the error replied
 * or sent). */
gboolean http_build_run(HttpBuildJob *job, const char *name, oc_template_build_options *opts,
                        HttpBuildExisting existing);
/* The same from an image's steps, into template name (img->name for a
 * create's image, a snapshot's name). */
gboolean http_build_image(HttpBuildJob *job, HttpImage *img, const char *name,
                          HttpBuildExisting existing);
/* A log line of the job's own (a build_log event when streaming). */
void http_build_log(HttpBuildJob *job, const char *line);
/* The last reply: the "result" event, or status with node; takes node. */
void http_build_job_done(HttpBuildJob *job, guint status, JsonNode *node);
/* The "error" event, or the error replied (status from its code); takes err. */
void http_build_job_fail(HttpBuildJob *job, oc_error *err);
void http_build_job_fail_msg(HttpBuildJob *job, guint status, const char *msg);
