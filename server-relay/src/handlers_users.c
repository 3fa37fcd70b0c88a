/* GET /v1/users/{user_id}/devices */
#include <stdlib.h>

#include "handlers.h"

enum MHD_Result relayd_handle_user_devices(struct MHD_Connection *conn, relayd_request *rq)
{
    relay_device *devs = NULL;
    size_t n = 0;
    int rc = relay_store_user_devices(rq->srv->store, rq->user_id, &devs, &n);
    if (rc == RELAY_E_NOTFOUND || (rc == RELAY_OK && n == 0)) {
        free(devs);
        return relayd_respond_error(conn, rq, MHD_HTTP_NOT_FOUND, "unknown_user",
                                    "No devices are registered for this user id.");
    }
    if (rc != RELAY_OK)
        return relayd_respond_store_error(conn, rq, rc);

    enum MHD_Result r = MHD_NO;
    ProtobufCBinaryData *ids = calloc(n, sizeof *ids);
    if (ids != NULL) {
        for (size_t i = 0; i < n; i++)
            ids[i] = secmsg__bytes(devs[i].identity, devs[i].identity_len);
        Secmsg__Relay__DeviceList list = SECMSG__RELAY__DEVICE_LIST__INIT;
        list.user_id = rq->user_id;
        list.n_devices = n;
        list.devices = ids;
        r = relayd_respond_pb(conn, rq, &list.base);
        free(ids);
    }
    free(devs);
    return r;
}
