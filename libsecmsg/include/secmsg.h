/*
 * secmsg.h - umbrella header for libsecmsg, end-to-end encrypted messaging
 * between caseworkers and citizens. See the per-module headers for the API.
 */
#ifndef SECMSG_H
#define SECMSG_H

#include "secmsg/common.h"
#include "secmsg/identity.h"
#include "secmsg/prekey.h"
#include "secmsg/session.h"
#include "secmsg/client.h"

#endif
