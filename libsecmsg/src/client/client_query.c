/*
 * Read side of the client: contacts, safety numbers, access transparency,
 * conversations and the event queue. spec/client.md §6.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/client_internal.h"
#include "wire/client_codec.h"
#include "wire/relay_codec.h"

static int check_user_id(secmsg_client *c, const char *user_id)
{
    if (c == NULL || user_id == NULL || !secmsg__relay_user_id_valid(user_id))
        return SECMSG_E_INVALID_ARG;
    return SECMSG_OK;
}

static int contact_or_fail(secmsg_client *c, const char *user_id, secmsg__contact_row *row)
{
    int rc = check_user_id(c, user_id);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__store_contact_get(c->st, user_id, row);
    if (rc == SECMSG_E_NOT_FOUND)
        return secmsg__client_fail(c, rc, "no contact with that user id");
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc, "cannot read the contact");
    return SECMSG_OK;
}

int secmsg_client_contact_count(secmsg_client *c, size_t *count)
{
    if (c == NULL || count == NULL)
        return SECMSG_E_INVALID_ARG;
    return secmsg__store_contact_count(c->st, count);
}

int secmsg_client_contact_get(secmsg_client *c, size_t index, secmsg_contact *out)
{
    if (c == NULL || out == NULL)
        return SECMSG_E_INVALID_ARG;
    secmsg__contact_row row;
    return secmsg__store_contact_at(c->st, index, &row, out);
}

int secmsg_client_contact_find(secmsg_client *c, const char *user_id, secmsg_contact *out)
{
    int rc = check_user_id(c, user_id);
    if (rc != SECMSG_OK || out == NULL)
        return SECMSG_E_INVALID_ARG;
    return secmsg__store_contact_summary(c->st, user_id, out);
}

int secmsg_client_safety_number(secmsg_client *c, const char *user_id,
                                char out[SECMSG_SAFETY_NUMBER_BYTES])
{
    secmsg__contact_row row;
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    int rc = contact_or_fail(c, user_id, &row);
    if (rc != SECMSG_OK)
        return rc;
    return secmsg_safety_number(out, c->idpub, c->idpub_len, row.identity, row.identity_len);
}

int secmsg_client_mark_verified(secmsg_client *c, const char *user_id, const uint8_t *scanned,
                                size_t scanned_len)
{
    secmsg__contact_row row;
    int rc = contact_or_fail(c, user_id, &row);
    if (rc != SECMSG_OK)
        return rc;
    if (row.verification == SECMSG_VERIFICATION_FAILED)
        return secmsg__client_fail(c, SECMSG_E_UNTRUSTED,
                                   "this contact's keys contradicted its invite");
    if (scanned != NULL) {
        rc = secmsg_safety_qr_verify(scanned, scanned_len, c->idpub, c->idpub_len, row.identity,
                                     row.identity_len);
        if (rc != SECMSG_OK)
            return secmsg__client_fail(c, rc, "the scanned code does not match this contact");
    }
    row.verification = SECMSG_VERIFIED_IN_PERSON;
    secmsg_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SECMSG_EVENT_CONTACT_VERIFIED;
    snprintf(ev.peer, sizeof ev.peer, "%s", row.user_id);
    ev.at = secmsg__now_ms();
    rc = secmsg__store_begin(c->st);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__store_contact_put(c->st, &row);
    if (rc == SECMSG_OK)
        rc = secmsg__store_event_push(c->st, &ev);
    if (rc == SECMSG_OK)
        return secmsg__store_commit(c->st);
    secmsg__store_rollback(c->st);
    return rc;
}

/*
 * Who can read a conversation: this device, and the contact's device. The
 * journal key joins the list with the journal layer.
 */
static int access_entry(secmsg_client *c, const secmsg__contact_row *row, size_t index,
                        secmsg_access_entry *e)
{
    uint8_t fp[32];
    memset(e, 0, sizeof *e);
    int rc;
    if (index == 0) {
        e->kind = SECMSG_ACCESS_SELF;
        e->role = c->role;
        snprintf(e->user_id, sizeof e->user_id, "%s", c->user_id);
        rc = secmsg_identity_fingerprint(fp, c->idpub, c->idpub_len);
        uint8_t *cert = NULL;
        size_t n = 0;
        if (secmsg__store_setting_get(c->st, SETTING_OWN_CERT, &cert, &n) == SECMSG_OK) {
            e->certified = 1;
            secmsg__store_free(cert, n);
        }
    } else if (index == 1) {
        e->kind = SECMSG_ACCESS_PEER_DEVICE;
        e->role = row->role;
        snprintf(e->user_id, sizeof e->user_id, "%s", row->user_id);
        rc = secmsg_identity_fingerprint(fp, row->identity, row->identity_len);
        e->certified = row->cert_len > 0;
    } else {
        return SECMSG_E_NOT_FOUND;
    }
    if (rc == SECMSG_OK)
        sodium_bin2hex(e->fingerprint, sizeof e->fingerprint, fp, sizeof fp);
    return rc;
}

int secmsg_client_access_count(secmsg_client *c, const char *user_id, size_t *count)
{
    secmsg__contact_row row;
    if (count == NULL)
        return SECMSG_E_INVALID_ARG;
    int rc = contact_or_fail(c, user_id, &row);
    if (rc == SECMSG_OK)
        *count = 2;
    return rc;
}

int secmsg_client_access_get(secmsg_client *c, const char *user_id, size_t index,
                             secmsg_access_entry *out)
{
    secmsg__contact_row row;
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    int rc = contact_or_fail(c, user_id, &row);
    if (rc != SECMSG_OK)
        return rc;
    return access_entry(c, &row, index, out);
}

int secmsg_client_message_count(secmsg_client *c, const char *user_id, size_t *count)
{
    if (check_user_id(c, user_id) != SECMSG_OK || count == NULL)
        return SECMSG_E_INVALID_ARG;
    return secmsg__store_message_count(c->st, user_id, count);
}

int secmsg_client_message_get(secmsg_client *c, const char *user_id, size_t index,
                              secmsg_message *out, char *text, size_t cap)
{
    if (check_user_id(c, user_id) != SECMSG_OK || out == NULL || (text == NULL && cap != 0))
        return SECMSG_E_INVALID_ARG;
    secmsg_message m;
    char *t = NULL;
    int rc = secmsg__store_message_at(c->st, user_id, index, &m, &t);
    if (rc != SECMSG_OK)
        return rc;
    if (text != NULL) {
        if (cap <= m.text_len) {
            *out = m;
            secmsg__store_free(t, m.text_len + 1);
            return SECMSG_E_BUFFER_TOO_SMALL;
        }
        memcpy(text, t, m.text_len);
        text[m.text_len] = '\0';
    }
    secmsg__store_free(t, m.text_len + 1);
    *out = m;
    return SECMSG_OK;
}

int secmsg_client_mark_read(secmsg_client *c, const char *user_id)
{
    if (check_user_id(c, user_id) != SECMSG_OK)
        return SECMSG_E_INVALID_ARG;
    return secmsg__store_mark_read(c->st, user_id);
}

int secmsg_client_next_event(secmsg_client *c, secmsg_event *out)
{
    if (c == NULL || out == NULL)
        return SECMSG_E_INVALID_ARG;
    return secmsg__store_event_pop(c->st, out);
}
