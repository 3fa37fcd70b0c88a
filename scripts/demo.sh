#!/usr/bin/env bash
# The main job, end to end on this machine: a relay on 127.0.0.1 with its
# embedded (sqlcipher) store; the municipality's root key; a caseworker
# enrolled with an admin token and a root certificate; a citizen invited
# and enrolled by redeeming the invite; a few messages both ways; and the
# conversation printed from both sides. Everything lives in a temp dir that
# is removed at the end (set SECMSG_DEMO_KEEP=1 to keep it).
#
# Usage: scripts/demo.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
RELAY=$B/server-relay/src/secmsg-relay
ADMIN=$B/clients/admin/secmsg-admin
CW=$B/clients/caseworker/secmsg-caseworker
CI=$B/clients/citizen/secmsg-citizen

T=$(mktemp -d /tmp/secmsg-demo.XXXXXX)
RELAY_PID=
cleanup() {
  [ -n "$RELAY_PID" ] && kill -TERM "$RELAY_PID" 2>/dev/null && wait "$RELAY_PID" 2>/dev/null || true
  [ "${SECMSG_DEMO_KEEP:-0}" = 1 ] && echo "(kept $T)" || rm -rf "$T"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting the relay on 127.0.0.1 (embedded sqlcipher store)"
mkfifo "$T/relay.out"
"$RELAY" serve --listen 127.0.0.1 --port 0 --db "$T/relay.db" --insecure-loopback \
  >"$T/relay.out" 2>"$T/relay.log" &
RELAY_PID=$!
read -r line <"$T/relay.out"
echo "$line"
URL="http://${line#listening on }"

say "Municipality admin: root key (kept offline in real life)"
ROOT_FP=$("$ADMIN" root-init --out "$T/root.key" 2>/dev/null)
echo "root fingerprint: $ROOT_FP"

# The demo's PINs come from the environment; a person types them at a no-echo prompt.
export SECMSG_PIN=2468
CWD=(--dir "$T/anna")
CID=(--dir "$T/bo")

say "Caseworker Anna: new device, admin token, root certificate, enrollment"
"$CW" "${CWD[@]}" init
IDENTITY=$("$CW" "${CWD[@]}" --json device-id | sed -n 's/.*"identity": *"\([0-9a-f]*\)".*/\1/p')
TOKEN=$("$RELAY" admin token --role caseworker --user anna --db "$T/relay.db" 2>/dev/null)
CERT=$("$ADMIN" certify --root-key "$T/root.key" --identity "$IDENTITY" --user anna \
  --role caseworker)
"$CW" "${CWD[@]}" enroll --relay "$URL" --token "$TOKEN" --certificate "$CERT"

say "Anna invites citizen Bo (text and QR code)"
INVITE=$("$CW" "${CWD[@]}" invite --user bo --no-qr)
echo "$INVITE"
"$CW" "${CWD[@]}" invite --user bo-qr-demo --qr | tail -n +2 || true

say "Citizen Bo: new device, redeems the invite (keys verified by construction)"
"$CI" "${CID[@]}" init
"$CI" "${CID[@]}" redeem "$INVITE"

say "Both sides sync: Anna learns Bo's device, Bo gets Anna's root certificate"
"$CW" "${CWD[@]}" sync
"$CI" "${CID[@]}" sync

say "Messages both ways"
"$CI" "${CID[@]}" send "Hej Anna, jeg har fået job-tilbuddet. Kan vi tale om det?"
"$CW" "${CWD[@]}" sync
"$CW" "${CWD[@]}" send bo "Tillykke, Bo! Kom forbi torsdag kl. 10, lokale 2.14."
"$CW" "${CWD[@]}" send bo "Husk at tage kontrakten med."
"$CI" "${CID[@]}" sync
"$CI" "${CID[@]}" send "Tak, jeg kommer."
"$CW" "${CWD[@]}" sync

say "The conversation as Bo sees it"
"$CI" "${CID[@]}" show
say "The conversation as Anna sees it"
"$CW" "${CWD[@]}" show bo
say "Who can read Bo's conversation"
"$CI" "${CID[@]}" access
say "Safety number (both sides must match)"
"$CI" "${CID[@]}" safety-number
"$CW" "${CWD[@]}" safety-number bo
