/*
 * The relay's log: one line per event on stderr, with a UTC timestamp.
 *
 * Invariant: no caller passes message content, tokens, keys, user ids,
 * device ids or client addresses. Events name what happened and, for
 * failures, which route or subsystem and an error code.
 */
#ifndef SECMSG_RELAYD_LOG_H
#define SECMSG_RELAYD_LOG_H

#if defined(__GNUC__)
#define RELAYD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RELAYD_PRINTF(f, a)
#endif

void relayd_log_info(const char *fmt, ...) RELAYD_PRINTF(1, 2);
void relayd_log_error(const char *fmt, ...) RELAYD_PRINTF(1, 2);

#endif
