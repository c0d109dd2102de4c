"""Makes the flatc-generated Python code for serenity.fbs importable.

The build generates it into <build>/python and the launcher scripts put that
directory on sys.path. Used from the source tree (tests, a fresh checkout
without a build), the code is generated on first use with the host flatc into
a cache directory keyed by the schema's hash, because generated FlatBuffers
code must match the installed flatbuffers version and is never committed.
"""
import hashlib
import importlib
import os
import shutil
import subprocess
import sys

SOURCE_ROOT = os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCHEMA = os.path.join(SOURCE_ROOT, "model_format", "serenity.fbs")


class GenerationError(Exception):
  pass


def _cache_dir():
  with open(SCHEMA, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:16]
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
      os.path.expanduser("~"), ".cache")
  return os.path.join(base, "serenity", "python-fbs-" + digest)


def ensure_generated():
  """Imports serenity.fb, generating it first if needed. Returns the module."""
  try:
    importlib.import_module("serenity.fb.Model")
    return importlib.import_module("serenity.fb")
  except ImportError:
    pass
  target = _cache_dir()
  marker = os.path.join(target, "serenity", "fb", "Model.py")
  if not os.path.exists(marker):
    flatc = os.environ.get("SERENITY_FLATC") or shutil.which("flatc")
    if not flatc:
      raise GenerationError(
          "flatc not found: install the Debian package flatbuffers-compiler "
          "(or run scripts/install-deps.sh)")
    tmp = target + ".tmp%d" % os.getpid()
    os.makedirs(tmp, exist_ok=True)
    result = subprocess.run([flatc, "--python", "-o", tmp, SCHEMA],
                            capture_output=True, text=True)
    if result.returncode != 0:
      raise GenerationError("flatc failed on %s: %s" %
                            (SCHEMA, result.stderr.strip()))
    try:
      os.replace(tmp, target)
    except OSError:
      shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
  sys.path.insert(0, target)
  importlib.import_module("serenity.fb.Model")
  return importlib.import_module("serenity.fb")
