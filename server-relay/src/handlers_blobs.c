/*
 * POST /v1/blobs and GET /v1/blobs/{id}. Neither holds a blob in memory:
 * uploads are written to the store chunk by chunk as they arrive (http.c),
 * downloads are read from it chunk by chunk as the socket drains.
 */
#include <stdlib.h>

#include "handlers.h"
#include "metrics.h"

#define DOWNLOAD_BLOCK (64U * 1024U)

enum MHD_Result relayd_handle_blob_upload(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    if (rq->blob_err == RELAY_E_QUOTA)
        return relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                                    "The blob is larger than the relay accepts.");
    if (rq->blob_err != 0)
        return relayd_respond_store_error(conn, rq, rq->blob_err);
    if (rq->blob == NULL || rq->blob_received != rq->content_length)
        return relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "incomplete_body",
                                    "The blob ended before its Content-Length.");

    relay_blob_writer *w = rq->blob;
    rq->blob = NULL; /* relay_blob_commit frees it, whatever the outcome */
    uint8_t id[RELAY_BLOB_ID_BYTES];
    uint64_t size = 0, now = relayd_now();
    int rc = relay_blob_commit(w, now, id, &size);
    if (rc == RELAY_E_QUOTA)
        return relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                                    "The blob is larger than the relay accepts.");
    if (rc != RELAY_OK)
        return relayd_respond_store_error(conn, rq, rc);

    Secmsg__Relay__BlobResponse resp = SECMSG__RELAY__BLOB_RESPONSE__INIT;
    resp.has_blob_id = 1;
    resp.blob_id = secmsg__bytes(id, sizeof id);
    resp.has_size = 1;
    resp.size = size;
    resp.has_expires = 1;
    resp.expires = now + srv->cfg->store.ttl_seconds;
    return relayd_respond_pb(conn, rq, &resp.base);
}

typedef struct download {
    relay_blob_reader *reader;
    relayd_metrics *metrics;
    uint64_t size, sent;
} download;

static ssize_t read_block(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos; /* MHD reads sequentially: pos == sent */
    download *dl = cls;
    size_t got = 0;
    if (dl->sent >= dl->size)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > dl->size - dl->sent)
        max = (size_t)(dl->size - dl->sent);
    if (relay_blob_read(dl->reader, (uint8_t *)buf, max, &got) != RELAY_OK || got == 0 || got > max)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* truncated or failing file */
    dl->sent += got;
    relayd_metrics_bytes_out(dl->metrics, got);
    return (ssize_t)got;
}

static void free_download(void *cls)
{
    download *dl = cls;
    relay_blob_close(dl->reader);
    free(dl);
}

enum MHD_Result relayd_handle_blob_download(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    relay_blob_reader *reader = NULL;
    uint64_t size = 0;
    int rc = relay_store_blob_open(srv->store, rq->dev.id, rq->blob_id, &reader, &size);
    if (rc == RELAY_E_NOTFOUND || rc == RELAY_E_DENIED)
        /* Same answer for both: do not confirm that someone else's id exists. */
        return relayd_respond_error(conn, rq, MHD_HTTP_NOT_FOUND, "unknown_blob",
                                    "No blob with this id is available to this device.");
    if (rc != RELAY_OK)
        return relayd_respond_store_error(conn, rq, rc);

    download *dl = calloc(1, sizeof *dl);
    if (dl == NULL) {
        relay_blob_close(reader);
        return MHD_NO;
    }
    dl->reader = reader;
    dl->metrics = srv->metrics;
    dl->size = size;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(size, DOWNLOAD_BLOCK, read_block, dl, free_download);
    if (resp == NULL) {
        free_download(dl);
        return MHD_NO;
    }
    return relayd_respond_prepared(conn, rq, MHD_HTTP_OK, "application/octet-stream", resp);
}
