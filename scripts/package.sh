#!/usr/bin/env bash
# Build the plugin zip that QGIS (Plugins → Manage and Install Plugins → Install from ZIP) and
# plugins.qgis.org take:
#
#   bash scripts/package.sh [--out DIR]     # writes DIR/tilewise-<version>.zip (DIR: dist/)
#
# The zip holds one folder, tilewise/, with the plugin's files: metadata.txt, LICENSE, README,
# the Python packages (provider, algorithms, engine), resources/ and docs/ with the help pages
# (docs/help/: not in git, generated into a staging folder). Left out: tests/, bench/, scripts/,
# .ci/, git files, caches and *.pyc.
# Files are those git knows or would add (tracked, or new and not ignored), as in the checkout
# (outside git: every file).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo/dist"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown option: $1" >&2; exit 2 ;;
  esac
done

version=$(sed -n 's/^version=\(.*\)$/\1/p' "$repo/metadata.txt" | tr -d '[:space:]')
[[ -n "$version" ]] || { echo "package.sh: no version= in metadata.txt" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
zip_path="$out/tilewise-$version.zip"

# the help pages shipped in the zip come from the algorithms' own help text (QGIS uses them
# while they are current, algorithms/help.py)
staging=$(mktemp -d "${TMPDIR:-/tmp}/tilewise-package-XXXXXX")
trap 'rm -rf "$staging"' EXIT
QT_QPA_PLATFORM=offscreen /usr/bin/python3 "$repo/scripts/build_help.py" \
  --html "$staging/docs/help" >/dev/null

cd "$repo"
list_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -z
  else  # an unpacked source archive: every file (caches are filtered out below)
    find . -type f -printf '%P\0'
  fi
}
list_files | /usr/bin/python3 -c '
import os, sys, zipfile

INCLUDE_DIRS = ("algorithms/", "docs/", "engine/", "provider/", "resources/")
INCLUDE_FILES = {"__init__.py", "plugin.py", "deps.py", "metadata.txt", "LICENSE", "README.md"}
STAGED = "docs/help/"  # from the staging folder, never a copy left in the checkout
zip_path, staging = sys.argv[1], sys.argv[2]
names = sorted(set(n for n in sys.stdin.read().split("\0") if n and os.path.isfile(n)))
kept = [n for n in names
        if (n in INCLUDE_FILES or n.startswith(INCLUDE_DIRS)) and not n.startswith(STAGED)
        and "__pycache__" not in n.split("/") and not n.endswith((".pyc", ".pyo"))]
staged = sorted(os.path.relpath(os.path.join(top, f), staging).replace(os.sep, "/")
                for top, _, files in os.walk(os.path.join(staging, STAGED)) for f in files)
if not staged:
    sys.exit("package.sh: no help pages were generated")
missing = INCLUDE_FILES - set(kept)
if missing:
    sys.exit("package.sh: missing " + ", ".join(sorted(missing)))
tmp = zip_path + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
    for name in kept:
        archive.write(name, "tilewise/" + name)
    for name in staged:
        archive.write(os.path.join(staging, name), "tilewise/" + name)
os.replace(tmp, zip_path)
print(f"{zip_path}: {len(kept) + len(staged)} files")
' "$zip_path" "$staging"
