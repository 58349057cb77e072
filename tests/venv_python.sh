# Sourced by the ctest scripts that check duet's files with Python reference tools:
#   source "$here/../../venv_python.sh"          # (path relative to the caller)
#   py=$(duet_venv_python "import onnx, onnxruntime, numpy") || exit $?
# Prints the python of scripts/python_venv.sh's venv when it imports every module of the
# given import statement. Otherwise says why on stderr and returns 77 (ctest: skipped), or 1
# under DUET_REQUIRE_VENV=1 (CI installs the venv: there a missing one is a failure).
duet_venv_python() {
  local root py
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if py=$(bash "$root/scripts/python_venv.sh" | tail -n 1) && [ -x "$py" ] &&
     "$py" -c "$1" 2> /dev/null; then
    echo "$py"
    return 0
  fi
  echo "SKIPPED: the Python venv cannot run '$1' (scripts/python_venv.sh)" >&2
  [ "${DUET_REQUIRE_VENV:-0}" = 1 ] && return 1
  return 77
}
