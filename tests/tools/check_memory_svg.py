#!/usr/bin/python3
"""Checks a picture from serenity_run --memory-svg.

usage: check_memory_svg.py FILE.svg BUFFERS CURVES

Structure: well-formed XML (xml.etree), exactly BUFFERS <rect class="buffer">
elements each with a non-empty <title>, CURVES <polyline class="curve">
elements and as many peak markers, an arena-size and a peak line.
Rendering: rsvg-convert turns it into a PNG, which is decoded here (zlib, PNG
filters) and must not be blank: several distinct colours, and a fair share of
pixels that are not the background.

Exit 0 when every check passes, 1 with one line per failure on stderr, 77
when rsvg-convert is missing (librsvg2-bin; scripts/install-deps.sh).
"""
import shutil
import struct
import subprocess
import sys
import tempfile
import os
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"


def structure_errors(path, buffers, curves):
  errors = []
  try:
    root = ET.parse(path).getroot()
  except ET.ParseError as e:
    return ["not well-formed XML: %s" % e]
  if root.tag != SVG + "svg":
    errors.append("root element is %s, not svg" % root.tag)
  rects = [e for e in root.iter(SVG + "rect") if e.get("class") == "buffer"]
  if len(rects) != buffers:
    errors.append("%d buffer rectangles, expected %d" % (len(rects), buffers))
  for r in rects:
    title = r.find(SVG + "title")
    if title is None or not (title.text or "").strip():
      errors.append("a buffer rectangle has no title")
      break
    for attr in ("x", "y", "width", "height"):
      if float(r.get(attr)) < 0 or float(r.get(attr)) != float(r.get(attr)):
        errors.append("a buffer rectangle has %s=%s" % (attr, r.get(attr)))
  lines = [e for e in root.iter(SVG + "polyline") if e.get("class") == "curve"]
  peaks = [e for e in root.iter(SVG + "circle") if e.get("class") == "peak"]
  if len(lines) != curves or len(peaks) != curves:
    errors.append("%d curves and %d peak markers, expected %d" % (len(lines), len(peaks), curves))
  for kind in ("arena-size", "peak-line"):
    if not [e for e in root.iter(SVG + "line") if e.get("class") == kind]:
      errors.append("no %s line" % kind)
  for e in root.iter():
    if e.tag in (SVG + "script", SVG + "image") or any("href" in k for k in e.attrib):
      errors.append("not self-contained: <%s>" % e.tag.replace(SVG, ""))
      break
  return errors


def paeth(a, b, c):
  p = a + b - c
  pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
  if pa <= pb and pa <= pc:
    return a
  return b if pb <= pc else c


def decode_png(data):
  """Returns (width, height, rows of bytes, channels) of an 8-bit RGB(A) PNG."""
  if data[:8] != b"\x89PNG\r\n\x1a\n":
    raise ValueError("not a PNG")
  pos, idat, header = 8, b"", None
  while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
      header = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
      idat += body
    pos += 12 + length
  width, height, depth, colour = header[0], header[1], header[2], header[3]
  if depth != 8 or colour not in (2, 6):
    raise ValueError("unexpected PNG format: depth %d colour type %d" % (depth, colour))
  channels = 4 if colour == 6 else 3
  raw = zlib.decompress(idat)
  stride = width * channels
  rows, previous = [], bytearray(stride)
  for y in range(height):
    kind = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
      a = line[i - channels] if i >= channels else 0
      b = previous[i]
      c = previous[i - channels] if i >= channels else 0
      if kind == 1:
        line[i] = (line[i] + a) & 255
      elif kind == 2:
        line[i] = (line[i] + b) & 255
      elif kind == 3:
        line[i] = (line[i] + (a + b) // 2) & 255
      elif kind == 4:
        line[i] = (line[i] + paeth(a, b, c)) & 255
    rows.append(bytes(line))
    previous = line
  return width, height, rows, channels


def render_errors(path):
  converter = shutil.which("rsvg-convert")
  if converter is None:
    print("rsvg-convert not found (install librsvg2-bin)", file=sys.stderr)
    sys.exit(77)
  with tempfile.TemporaryDirectory() as tmp:
    png = os.path.join(tmp, "picture.png")
    done = subprocess.run([converter, "--width", "400", "--output", png, path],
                          capture_output=True, text=True)
    if done.returncode != 0:
      return ["rsvg-convert failed: %s" % done.stderr.strip()]
    with open(png, "rb") as f:
      width, height, rows, channels = decode_png(f.read())
  counts = {}
  for row in rows:
    for x in range(width):
      pixel = row[x * channels:(x + 1) * channels]
      counts[pixel] = counts.get(pixel, 0) + 1
  total = width * height
  background = max(counts.values())
  errors = []
  if len(counts) < 8:
    errors.append("the rendered picture has only %d colours" % len(counts))
  if total - background < total // 20:
    errors.append("the rendered picture is almost blank: %d of %d pixels drawn"
                  % (total - background, total))
  return errors


def main():
  if len(sys.argv) != 4:
    print(__doc__, file=sys.stderr)
    return 2
  path, buffers, curves = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
  errors = structure_errors(path, buffers, curves) + render_errors(path)
  for e in errors:
    print("check_memory_svg: %s: %s" % (path, e), file=sys.stderr)
  return 1 if errors else 0


if __name__ == "__main__":
  sys.exit(main())
