/*
 * Criterion glue for the relay integration tests: one real secmsg-relay
 * per test (each Criterion test runs in its own process, so the globals
 * below are per test), fixtures that always stop it, and asserting
 * wrappers over relay_client.h.
 */
#ifndef SECMSG_RELAY_ITEST_H
#define SECMSG_RELAY_ITEST_H

#include <stddef.h>
#include <stdint.h>

#include "relay_client.h"

/* The relay of the current test, and a second one for the tests that
 * need two (both stopped by it_fini). */
extern rc_relay it_relay;
extern rc_relay it_relay2;

/* Suite init: secmsg/curl init and a relay with the default settings. */
void it_init_default(void);
/* Suite init without a relay: the test calls it_start itself. */
void it_init_bare(void);
/* Suite fini: stops the relay (bounded) and removes its dir. */
void it_fini(void);

/* Starts it_relay with extra flags (NULL-terminated, may be NULL), e.g.
 * "--token-ttl", "3": see rc_relay_start. */
void it_start(const char *const *flags);
/* Restarts it_relay on the same database and flags. */
void it_restart(void);

/* A connection to it_relay (asserts). */
void it_conn(rc_conn *c);

/* A device enrolled with an admin token of `role` and a fresh user id,
 * registered and authenticated (asserts). */
void it_device(rc_conn *c, rc_device *d, const char *role);

/* Asserts c's last response is `status` with an Error body whose code is
 * the status; and, if reason is not NULL, that reason. `what` names the
 * request. */
void it_assert_error(const rc_conn *c, long got, long status, const char *reason, const char *what);
/* Enrolls d on relay r instead of it_relay (asserts). */
void it_device_on(const rc_relay *r, rc_conn *c, rc_device *d, const char *role);

/* Runs it_relay's executable with args (after the executable, NULL-
 * terminated) in its dir until it exits (at most 30 s; asserts that it
 * does) and returns the exit status; the start of its stdout goes to out,
 * the end of its stderr to err (either may be NULL). */
int it_run_relay(const char *const *args, char *out, size_t out_cap, char *err, size_t err_cap);

/* Asserts that GET /health is 200 on a fresh connection. */
void it_assert_healthy(void);

/* A unique user id for this test process. */
void it_user_id(char *out, size_t cap, const char *prefix);

/* The value of the metric line "name value" (no labels) in GET /metrics
 * on c (asserts it is there). */
double it_metric(rc_conn *c, const char *name);

#endif
