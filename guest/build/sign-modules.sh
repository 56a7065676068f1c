#!/bin/bash
# Signs the installed modules with the image kernel's own scripts/sign-file, in the build VM,
# as root. Usage: sign-modules.sh MODE SIGNER SIGNER_FILE CERT_FILE NAME=PATH...
#   MODE given:    the host put the key and certificate (PEM) in VEXFS_SIGNING_KEY and
#                  VEXFS_SIGNING_CERT above this script (it travels on SSH's stdin, never argv)
#   MODE generate: a key and self-signed certificate are made here for this build (CN SIGNER);
#                  the key lives in a tmpfs directory removed on exit, never in the image
# Each module is signed (sha256), then modinfo must name SIGNER as its signer and the module
# must load and unload again. The certificate goes to CERT_FILE and the signer to SIGNER_FILE
# in the image (validate's module-signed checks read them). Prints result.signed_N=NAME<TAB>
# PATH<TAB>SIZE<TAB>SHA256<TAB>KEY_ID and result.certificate_b64=.
set -euo pipefail
mode="$1" signer="$2" signer_file="$3" cert_file="$4"
shift 4
kernel="$(uname -r)"

sign_file="/lib/modules/$kernel/build/scripts/sign-file"
if [ ! -x "$sign_file" ]; then
  for f in /usr/lib/linux-kbuild-*/scripts/sign-file; do [ -x "$f" ] && sign_file="$f"; done
fi
[ -x "$sign_file" ] || { echo "sign-file not found: neither /lib/modules/$kernel/build/scripts/sign-file nor /usr/lib/linux-kbuild-*/scripts/sign-file (the kernel headers' linux-kbuild package)" >&2; exit 1; }

dir=/run/vexfs-image-signing
rm -rf "$dir"
install -d -m 0700 "$dir"
trap 'rm -rf "$dir"' EXIT
case "$mode" in
  given)
    (umask 077; printf '%s\n' "${VEXFS_SIGNING_KEY:?}" >"$dir/key.pem"; printf '%s\n' "${VEXFS_SIGNING_CERT:?}" >"$dir/cert.pem")
    unset VEXFS_SIGNING_KEY
    ;;
  generate)
    # The kernel's own template (certs/default_x509.genkey): a code-signing leaf certificate.
    cat >"$dir/x509.genkey" <<EOF
[ req ]
default_bits = 3072
distinguished_name = req_distinguished_name
prompt = no
string_mask = utf8only
x509_extensions = v3
[ req_distinguished_name ]
CN = $signer
[ v3 ]
basicConstraints = critical,CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    (umask 077; openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 -config "$dir/x509.genkey" -outform PEM -out "$dir/cert.pem" -keyout "$dir/key.pem" 2>&1)
    ;;
  *) echo "sign-modules.sh: unknown mode '$mode'" >&2; exit 1 ;;
esac

n=0
for pair in "$@"; do
  name="${pair%%=*}" ko="${pair#*=}"
  "$sign_file" sha256 "$dir/key.pem" "$dir/cert.pem" "$ko"
  got="$(modinfo -F signer "$ko")"
  [ "$got" = "$signer" ] || { echo "$ko: after sign-file, modinfo names the signer '$got', expected '$signer'" >&2; exit 1; }
  algo="$(modinfo -F sig_hashalgo "$ko")"
  [ "$algo" = sha256 ] || { echo "$ko: signature hash is '$algo', expected sha256" >&2; exit 1; }
  # The signed file must still load (modprobe reads it from /lib/modules, where it is installed).
  modprobe "$name"
  modprobe -r "$name"
  echo "==> signed $ko (signer $got, key $(modinfo -F sig_key "$ko"))"
  printf 'result.signed_%d=%s\t%s\t%s\t%s\t%s\n' "$n" "$name" "$ko" "$(stat -c %s "$ko")" "$(sha256sum "$ko" | cut -d' ' -f1)" "$(modinfo -F sig_key "$ko")"
  n=$((n + 1))
done

install -d -m 0755 "$(dirname "$cert_file")"
install -m 0644 "$dir/cert.pem" "$cert_file"
printf '%s\n' "$signer" >"$signer_file"
chmod 0644 "$signer_file"
echo "result.certificate_b64=$(base64 -w0 "$dir/cert.pem")"
