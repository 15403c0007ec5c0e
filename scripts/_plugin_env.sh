# Source me (bash): set up an isolated, headless QGIS profile with the Tilewise plugin enabled.
#
#   source scripts/_plugin_env.sh
#   tilewise_plugin_env DIR     # creates DIR/plugins/tilewise -> repo root and DIR/profile,
#                               # exports QGIS_PLUGINPATH, QGIS_CUSTOM_CONFIG_PATH,
#                               # QT_QPA_PLATFORM=offscreen, XDG_RUNTIME_DIR, QGIS_PROCESS
#   "$QGIS_PROCESS" run tilewise:nodatamask --json -- INPUT=a.tif BAND=1 OUTPUT=m.tif
#
# The symlink makes the plugin importable as `tilewise` whatever the checkout folder is called.
# /usr/bin/qgis_process (the wrapper) is broken on bookworm (QGIS #57683): use qgis_process.bin.

TILEWISE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

tilewise_plugin_env() {
  local dir="$1"
  mkdir -p "$dir/plugins" "$dir/profile/profiles/default/QGIS" "$dir/runtime"
  chmod 700 "$dir/runtime"
  ln -sfn "$TILEWISE_REPO" "$dir/plugins/tilewise"
  export QGIS_PLUGINPATH="$dir/plugins"
  export QGIS_CUSTOM_CONFIG_PATH="$dir/profile"
  export QT_QPA_PLATFORM=offscreen
  export XDG_RUNTIME_DIR="$dir/runtime"
  export QGIS_PROCESS=/usr/bin/qgis_process.bin
  # Enable the plugin in the isolated profile (what `qgis_process.bin plugins enable` records).
  local ini="$dir/profile/profiles/default/QGIS/QGIS3.ini"
  if ! grep -qs '^tilewise=true' "$ini"; then
    printf '[PythonPlugins]\ntilewise=true\n' >> "$ini"
  fi
}
