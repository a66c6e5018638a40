#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# NBD over TLS (GnuTLS, NBD_OPT_STARTTLS): a CA, server and client
# certificates made with certtool and PSK files made with psktool in the
# test's scratch directory; nbdinfo, nbdcopy and qemu-img over nbds+unix://
# and nbds:// with X.509 and PSK, the bytes equal to vblade's backing file;
# --tls=require refuses plaintext clients (ERR_TLS_REQD, checked with a raw
# client too); --tls-verify-peer wants a client certificate; a wrong key
# or user fails; --tls=off answers STARTTLS with ERR_POLICY.
nbd_test_timeout=300
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"

requires aoe-nbd nbdinfo nbdcopy qemu-img certtool psktool cmp
requires_root
py=${nbd_python:-python3}
requires "$py"
if aoe-nbd --tls=on --tls-psk=/dev/null 2>&1 | grep -q 'without GnuTLS'; then
	skip_or_fail "aoe-nbd was built without GnuTLS (libgnutls28-dev)"
fi

# ------------------------------------------------------------ keys
pki=$tmpdir/pki
srv=$pki/server      # what aoe-nbd reads (nbdkit's layout)
cli=$pki/client      # what a client needs to trust the server
clicert=$pki/client-cert  # ... and a client certificate of its own
mkdir -p "$srv" "$cli" "$clicert"
chmod 700 "$pki"

cat >"$pki/ca.info" <<EOF
cn = aoe-nbd test CA $$
ca
cert_signing_key
expiration_days = 2
EOF
cat >"$pki/server.info" <<EOF
organization = aoe-nbd test
cn = localhost
dns_name = localhost
ip_address = 127.0.0.1
tls_www_server
encryption_key
signing_key
expiration_days = 2
EOF
cat >"$pki/client.info" <<EOF
organization = aoe-nbd test
cn = client
tls_www_client
encryption_key
signing_key
expiration_days = 2
EOF
certlog=$tmpdir/certtool.log
{
	certtool --generate-privkey --outfile "$pki/ca-key.pem" &&
	certtool --generate-self-signed --load-privkey "$pki/ca-key.pem" \
	    --template "$pki/ca.info" --outfile "$srv/ca-cert.pem" &&
	certtool --generate-privkey --outfile "$srv/server-key.pem" &&
	certtool --generate-certificate --load-privkey "$srv/server-key.pem" \
	    --load-ca-certificate "$srv/ca-cert.pem" \
	    --load-ca-privkey "$pki/ca-key.pem" \
	    --template "$pki/server.info" --outfile "$srv/server-cert.pem" &&
	certtool --generate-privkey --outfile "$clicert/client-key.pem" &&
	certtool --generate-certificate \
	    --load-privkey "$clicert/client-key.pem" \
	    --load-ca-certificate "$srv/ca-cert.pem" \
	    --load-ca-privkey "$pki/ca-key.pem" \
	    --template "$pki/client.info" \
	    --outfile "$clicert/client-cert.pem" &&
	# Another CA, which did not sign our server certificate.
	mkdir -p "$pki/other" &&
	certtool --generate-privkey --outfile "$pki/other-key.pem" &&
	certtool --generate-self-signed --load-privkey "$pki/other-key.pem" \
	    --template "$pki/ca.info" --outfile "$pki/other/ca-cert.pem"
} >"$certlog" 2>&1 || {
	cat "$certlog" >&2
	fail "certtool failed"
}
chmod 600 "$srv/server-key.pem" "$clicert/client-key.pem"
cp "$srv/ca-cert.pem" "$cli/"
cp "$srv/ca-cert.pem" "$clicert/"

# PSK: one good key for alice; a different key under the same name.
psk=$pki/psk
mkdir -p "$psk" "$pki/wrong"
psktool -u alice -p "$psk/keys.psk" >>"$certlog" 2>&1 ||
    fail "psktool failed"
psktool -u alice -p "$pki/wrong/keys.psk" >>"$certlog" 2>&1 ||
    fail "psktool failed"
chmod 600 "$psk/keys.psk" "$pki/wrong/keys.psk"
grep -q '^alice:[0-9a-f]\{32,\}$' "$psk/keys.psk" ||
    fail "unexpected psktool output: $(cat "$psk/keys.psk")"
say "PKI: CA, server and client certificates; PSK files for alice"

# ------------------------------------------------------------ target
setup_lan
make_image "$tmpdir/d0.img" 16
start_vblade 1 0 "$tmpdir/d0.img"

x509_uri()
{
	printf 'nbds+unix:///e1.0?socket=%s&tls-certificates=%s' "$nbd_sock" \
	    "${1:-$cli}"
}
psk_uri()
{
	printf 'nbds+unix://%s@/e1.0?socket=%s&tls-psk-file=%s' \
	    "${2:-alice}" "$nbd_sock" "${1:-$psk/keys.psk}"
}

# copy_both URI: nbdcopy out of the export (equal to the backing file),
# then a new image into it (the backing file then equals that image).
copy_both()
{
	local uri=$1 tag=$2
	expect_status 0 nbdcopy "$uri" "$tmpdir/out-$tag.img"
	cmp "$tmpdir/out-$tag.img" "$tmpdir/d0.img" ||
	    fail "$tag: nbdcopy out differs from the backing file"
	make_image "$tmpdir/in-$tag.img" 16
	expect_status 0 nbdcopy --flush "$tmpdir/in-$tag.img" "$uri"
	cmp "$tmpdir/in-$tag.img" "$tmpdir/d0.img" ||
	    fail "$tag: backing file differs after nbdcopy in"
	say "$tag: nbdcopy out and in: identical bytes"
}

# ------------------------------------------------------------ X.509, require
start_aoe_nbd -I "$lan_if" -w 5 -v --tls=require \
    --tls-certificates="$srv" e1.0

expect_status 0 nbdinfo --json "$(x509_uri)"
expect_grep "$tmpdir/out" '"TLS": true'
expect_grep "$tmpdir/out" '"export-size": 16777216'
expect_status 0 nbdinfo --is tls "$(x509_uri)"
expect_status 0 nbdinfo --list \
    "nbds+unix:///?socket=$nbd_sock&tls-certificates=$cli"
expect_grep "$tmpdir/out" "e1.0"
copy_both "$(x509_uri)" x509-unix

# qemu's NBD client with X.509 credentials (trusting our CA).
qobj="tls-creds-x509,id=tls0,dir=$cli,endpoint=client"
# A Unix socket has no host name to check the certificate against.
qimg="driver=nbd,server.type=unix,server.path=$nbd_sock,export=e1.0"
qimg="$qimg,tls-creds=tls0,tls-hostname=localhost"
expect_status 0 qemu-img info --object "$qobj" --image-opts "$qimg"
expect_grep "$tmpdir/out" "virtual size: 16 MiB"
expect_status 0 qemu-img compare --object "$qobj" --image-opts \
    "driver=file,filename=$tmpdir/d0.img" "$qimg"
expect_grep "$tmpdir/out" "Images are identical."
make_image "$tmpdir/q.img" 16
expect_status 0 qemu-img convert -n --object "$qobj" -f raw \
    "$tmpdir/q.img" --target-image-opts "$qimg"
cmp "$tmpdir/q.img" "$tmpdir/d0.img" ||
    fail "qemu-img convert over TLS: backing file differs"
say "qemu-img (tls-creds-x509): info, compare, convert"

# Plaintext clients are refused, with a message saying why (libnbd 1.14
# shows server messages only in its debug output).
expect_status 1 env LIBNBD_DEBUG=1 nbdinfo "$(nbd_uri e1.0)"
expect_grep "$tmpdir/err" "server replied with error to opt_go request"
expect_grep "$tmpdir/err" "server error message: this server requires TLS"
expect_status 1 env LIBNBD_DEBUG=1 nbdinfo --list "$(nbd_uri)"
expect_grep "$tmpdir/err" "server error message: this server requires TLS"
expect_status 0 "$py" "$srcdir/tests/nbd-tls-raw.py" "$nbd_sock" require
nbd_alive
expect_grep "$nbd_log" "TLS (X.509): (TLS1.3)"
stop_aoe_nbd

# ------------------------------------------------------------ X.509, TCP, on
port=$(free_tcp_port)
: >"$nbd_log"
# start_aoe_nbd listens on a Unix socket: TCP is started here.
pidfile=$nbd_sockdir/tcp.pid
printf '+ aoe-nbd -f -P %s ... --tls=on -p %s e1.0\n' "$pidfile" "$port"
aoe-nbd -f -P "$pidfile" -I "$lan_if" -w 5 --tls=on \
    --tls-certificates="$srv" -p "$port" e1.0 </dev/null >>"$nbd_log" 2>&1 &
nbd_pid=$!
cleanup_fn _kill_wait "$nbd_pid"
wait_for -t 10 test -s "$pidfile" || fail "aoe-nbd on TCP did not start"
tcp_uri="nbds://localhost:$port/e1.0?tls-certificates=$cli"
expect_status 0 nbdinfo --is tls "$tcp_uri"
copy_both "$tcp_uri" x509-tcp
# A client that trusts another CA (libnbd checks the server's certificate
# only over TCP, where it has a host name).
expect_status 1 nbdinfo \
    "nbds://localhost:$port/e1.0?tls-certificates=$pki/other"
# --tls=on: plaintext is still served.
expect_status 2 nbdinfo --is tls "nbd://127.0.0.1:$port/e1.0"
expect_status 0 nbdcopy "nbd://127.0.0.1:$port/e1.0" "$tmpdir/plain.img"
cmp "$tmpdir/plain.img" "$tmpdir/d0.img" || fail "plaintext copy differs"
expect_status 0 qemu-img compare \
    --object "tls-creds-x509,id=tls0,dir=$cli,endpoint=client" \
    --image-opts "driver=file,filename=$tmpdir/d0.img" \
    "driver=nbd,server.type=inet,server.host=localhost,server.port=$port,$(
    )export=e1.0,tls-creds=tls0"
expect_grep "$tmpdir/out" "Images are identical."
stop_aoe_nbd

# ------------------------------------------------------------ verify-peer
: >"$nbd_log"
start_aoe_nbd -I "$lan_if" -w 5 --tls=require --tls-certificates="$srv" \
    --tls-verify-peer e1.0
expect_status 1 nbdinfo "$(x509_uri "$cli")"
expect_status 0 nbdinfo --is tls "$(x509_uri "$clicert")"
copy_both "$(x509_uri "$clicert")" verify-peer
nbd_alive
stop_aoe_nbd

# ------------------------------------------------------------ PSK
: >"$nbd_log"
start_aoe_nbd -I "$lan_if" -w 5 -v --tls=require \
    --tls-psk="$psk/keys.psk" e1.0
expect_status 0 nbdinfo --json "$(psk_uri)"
expect_grep "$tmpdir/out" '"TLS": true'
copy_both "$(psk_uri)" psk
expect_status 0 qemu-img compare \
    --object "tls-creds-psk,id=tls0,dir=$psk,username=alice,endpoint=client" \
    --image-opts "driver=file,filename=$tmpdir/d0.img" \
    "driver=nbd,server.type=unix,server.path=$nbd_sock,$(
    )export=e1.0,tls-creds=tls0"
expect_grep "$tmpdir/out" "Images are identical."
# A wrong key, an unknown user, no TLS: all refused; the server stays up.
expect_status 1 nbdinfo "$(psk_uri "$pki/wrong/keys.psk")"
sed 's/^alice:/mallory:/' "$psk/keys.psk" >"$pki/wrong/mallory.psk"
expect_status 1 nbdinfo "$(psk_uri "$pki/wrong/mallory.psk" mallory)"
expect_status 1 nbdinfo "$(nbd_uri e1.0)"
expect_status 0 "$py" "$srcdir/tests/nbd-tls-raw.py" "$nbd_sock" require
expect_status 0 nbdinfo --is tls "$(psk_uri)"
nbd_alive
expect_grep "$nbd_log" "TLS (PSK): (TLS1.3"
stop_aoe_nbd

# ------------------------------------------------------------ on and off
# (The PSK file as an editor may leave it: a byte order mark, blank lines
# of spaces, an indented comment, another user.)
{
	printf '\357\273\277# keys\n  \n\t# indented comment\n'
	cat "$psk/keys.psk"
	printf 'bob:00112233445566778899aabbccddeeff\n'
} >"$pki/edited.psk"
: >"$nbd_log"
start_aoe_nbd -I "$lan_if" -w 5 --tls=on --tls-psk="$pki/edited.psk" e1.0
expect_status 0 "$py" "$srcdir/tests/nbd-tls-raw.py" "$nbd_sock" on
expect_status 0 nbdinfo --is tls "$(psk_uri)"
stop_aoe_nbd

: >"$nbd_log"
start_aoe_nbd -I "$lan_if" -w 5 e1.0
expect_status 0 "$py" "$srcdir/tests/nbd-tls-raw.py" "$nbd_sock" off
expect_status 1 nbdinfo "$(psk_uri)"
stop_aoe_nbd

# Bad TLS configurations are refused at start-up with a clear message.
expect_status 2 aoe-nbd -I "$lan_if" --tls=maybe e1.0
expect_status 2 aoe-nbd -I "$lan_if" --tls-psk="$psk/keys.psk" e1.0
expect_status 1 aoe-nbd -I "$lan_if" -f --tls=on \
    --tls-certificates="$pki/none" e1.0
expect_grep "$tmpdir/err" "server-cert.pem"
# A CA file with no certificate in it would refuse every client later.
mkdir "$pki/emptyca"
cp "$srv/server-cert.pem" "$srv/server-key.pem" "$pki/emptyca/"
: >"$pki/emptyca/ca-cert.pem"
expect_status 1 aoe-nbd -I "$lan_if" -f --tls=require --tls-verify-peer \
    --tls-certificates="$pki/emptyca" e1.0
expect_grep "$tmpdir/err" "ca-cert.pem: no certificate in it"
cat "$psk/keys.psk" "$psk/keys.psk" >"$pki/twice.psk"
expect_status 1 aoe-nbd -I "$lan_if" -f --tls=on --tls-psk="$pki/twice.psk" e1.0
expect_grep "$tmpdir/err" "twice.psk:2: user alice given a second time"
printf 'alice:xyz\n' >"$pki/bad.psk"
expect_status 1 aoe-nbd -I "$lan_if" -f --tls=on --tls-psk="$pki/bad.psk" e1.0
expect_grep "$tmpdir/err" "bad.psk:1"
say "PASS"
