/*
 * Route handlers, called by http.c once the request is complete (headers
 * checked, caller authenticated where the route needs it, body accumulated
 * within the route's limit). Each queues exactly one response, or (the
 * long poll) suspends the connection and is called again when resumed.
 */
#ifndef SECMSG_RELAYD_HANDLERS_H
#define SECMSG_RELAYD_HANDLERS_H

#include "http.h"
#include "wire/codec.h"

/* handlers_auth.c */
enum MHD_Result relayd_handle_register(struct MHD_Connection *conn, relayd_request *rq);
enum MHD_Result relayd_handle_challenge(struct MHD_Connection *conn, relayd_request *rq);
enum MHD_Result relayd_handle_token(struct MHD_Connection *conn, relayd_request *rq);

/* handlers_invites.c */
enum MHD_Result relayd_handle_invite(struct MHD_Connection *conn, relayd_request *rq);

/* handlers_prekeys.c */
enum MHD_Result relayd_handle_prekeys_put(struct MHD_Connection *conn, relayd_request *rq);
enum MHD_Result relayd_handle_prekeys_get(struct MHD_Connection *conn, relayd_request *rq);
enum MHD_Result relayd_handle_prekeys_claim(struct MHD_Connection *conn, relayd_request *rq);
/** The caller's own supply, for PrekeyStatus and FetchResponse.prekeys. */
int relayd_prekey_status(relayd_request *rq, Secmsg__Relay__PrekeyStatus *st);
/** The same from a count the caller already has. */
void relayd_prekey_status_of(relayd_request *rq, uint32_t n, Secmsg__Relay__PrekeyStatus *st);

/* handlers_users.c */
enum MHD_Result relayd_handle_user_devices(struct MHD_Connection *conn, relayd_request *rq);

/* handlers_messages.c */
enum MHD_Result relayd_handle_send(struct MHD_Connection *conn, relayd_request *rq);
enum MHD_Result relayd_handle_fetch(struct MHD_Connection *conn, relayd_request *rq);
enum MHD_Result relayd_handle_ack(struct MHD_Connection *conn, relayd_request *rq);
enum MHD_Result relayd_handle_fetch_ack(struct MHD_Connection *conn, relayd_request *rq);

/* handlers_blobs.c */
enum MHD_Result relayd_handle_blob_upload(struct MHD_Connection *conn, relayd_request *rq);
enum MHD_Result relayd_handle_blob_download(struct MHD_Connection *conn, relayd_request *rq);

#endif
