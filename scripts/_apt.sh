# Shared by scripts/install-deps.sh and bench/install-peers.sh (sourced, not run):
#
#   apt_install_missing TAG PACKAGE...
#
# installs those of the Debian PACKAGEs that dpkg does not have. Idempotent: when every package
# is installed, apt is not touched at all. Not root and something missing: names the missing
# packages on stderr and returns 1. Messages start with "TAG: ".
apt_install_missing() {
  local tag=$1 pkg status
  shift
  local missing=()
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "installed" ]] || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "$tag: all $# packages already installed"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "$tag: missing packages: ${missing[*]} (run as root to install them)" >&2
    return 1
  fi
  echo "$tag: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
}
