/*
 * Internal: decoders for the relay API bodies a client receives
 * (relay.proto, spec/relay-api.md). The same discipline as relay_codec.h:
 * a size bound before protobuf-c sees the bytes, then required fields,
 * lengths and value ranges, and only the canonical encoding: no unknown
 * fields and re-encoding gives exactly the input bytes (so a bool encoded
 * as 2, a field out of order or a repeated singular field are refused).
 *
 * What the relay always sends is required, so a body that lacks it is
 * not from a relay that implements the spec (MALFORMED). Return SECMSG_OK
 * or SECMSG_E_MALFORMED and a message freed with the matching protobuf-c
 * __free_unpacked(m, NULL); SECMSG_E_INVALID_ARG only for a NULL out. On
 * error *out is NULL.
 */
#ifndef SECMSG_WIRE_RELAY_CLIENT_CODEC_H
#define SECMSG_WIRE_RELAY_CLIENT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "relay.pb-c.h"

/* The bearer token of spec/relay-api.md section 4:
 * device_id (32) || le64(expires) || MAC (32). */
#define SECMSG__RELAY_BEARER_BYTES 72U
/* Error.reason: 1..63 bytes of [a-z0-9_]; Error.message: 1..1024 bytes. */
#define SECMSG__RELAY_REASON_MAX 63U
#define SECMSG__RELAY_ERROR_MESSAGE_MAX 1024U
/* The largest response body a client accepts: a full fetch (the relay's
 * fetch_max_bytes, 1 MiB by default, may be configured higher; 2 MiB of
 * content) plus its framing. */
#define SECMSG__RELAY_RESPONSE_MAX ((size_t)2U * 1024U * 1024U + 65536U)

/* Error{code 100..599, reason, message}. */
int secmsg__relay_decode_error(Secmsg__Relay__Error **out, const uint8_t *in, size_t len);
/* RegisterResponse{device_id (32), user_id (valid), role 1..3}. */
int secmsg__relay_decode_register_response(Secmsg__Relay__RegisterResponse **out, const uint8_t *in,
                                           size_t len);
/* ChallengeResponse{nonce (32), expires}. */
int secmsg__relay_decode_challenge_response(Secmsg__Relay__ChallengeResponse **out,
                                            const uint8_t *in, size_t len);
/* TokenResponse{token (72), expires}. */
int secmsg__relay_decode_token_response(Secmsg__Relay__TokenResponse **out, const uint8_t *in,
                                        size_t len);
/* InviteResponse{token (32), expires}. */
int secmsg__relay_decode_invite_response(Secmsg__Relay__InviteResponse **out, const uint8_t *in,
                                         size_t len);
/* PrekeyStatus{one_time_prekeys, low}. */
int secmsg__relay_decode_prekey_status(Secmsg__Relay__PrekeyStatus **out, const uint8_t *in,
                                       size_t len);
/* DeviceList{user_id (valid), devices[] (>= 1, each a canonical IdentityPublic)}. */
int secmsg__relay_decode_device_list(Secmsg__Relay__DeviceList **out, const uint8_t *in,
                                     size_t len);
/* SendResponse{stored}. */
int secmsg__relay_decode_send_response(Secmsg__Relay__SendResponse **out, const uint8_t *in,
                                       size_t len);
/*
 * FetchResponse{deliveries[], more, prekeys?}: each Delivery{id, sender
 * (32), message_id (16), content (>= 1 byte), received, blob_ids[] (16
 * each)}; prekeys, if present, a complete PrekeyStatus. An empty mailbox
 * is a body with only `more` (and prekeys), never an empty body.
 */
int secmsg__relay_decode_fetch_response(Secmsg__Relay__FetchResponse **out, const uint8_t *in,
                                        size_t len);
/* AckResponse{deleted}. */
int secmsg__relay_decode_ack_response(Secmsg__Relay__AckResponse **out, const uint8_t *in,
                                      size_t len);

#endif
