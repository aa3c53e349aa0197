"""A local HTTP server standing in for the datasets' hosts: tests never reach outside.

  python tests/dataserver.py DIR [DIR ...]    serve DIR/<dataset>/<file> on 127.0.0.1 (prints the URL)

The first path segment picks how a file is served, so that one server plays every host:
  /ok/<name>/<file>     the file
  /404/...              not found (a host that lost the file: the next mirror takes over)
  /bad/...              the file with one byte flipped (md5 refused)
  /cut/...              half the file, then the connection closes (an interrupted download)
  /slow/...             the file in 64 kB pieces, 20 ms apart (two processes overlap)
Use FFJAX_DATA_MIRRORS="URL/ok" (or "URL/404 URL/ok", ...) to point ffjax at it. Every
request's path is kept in server.hits.
"""
from __future__ import annotations

import contextlib
import http.server
import socket
import sys
import threading
import time
from pathlib import Path


class _Handler(http.server.BaseHTTPRequestHandler):
  def do_GET(self):  # noqa: N802 (http.server's name)
    mode, _, rel = self.path.lstrip('/').partition('/')
    self.server.hits.append(self.path)
    f = next((r / rel for r in self.server.roots if (r / rel).is_file()), None)
    if mode == '404' or f is None or mode not in ('ok', 'bad', 'cut', 'slow'):
      self.send_error(404)
      return
    body = bytearray(f.read_bytes())
    if mode == 'bad':
      body[len(body) // 2] ^= 0xFF
    self.send_response(200)
    self.send_header('Content-Length', str(len(body)))
    self.end_headers()
    try:
      if mode == 'cut':
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
      elif mode == 'slow':
        for i in range(0, len(body), 1 << 16):
          self.wfile.write(body[i:i + (1 << 16)])
          time.sleep(0.02)
      else:
        self.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
      pass

  def log_message(self, *args):
    pass


@contextlib.contextmanager
def serve(*roots):
  """(base URL, server) of a server on 127.0.0.1 serving the files under `roots`."""
  srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
  srv.roots, srv.hits = [Path(r) for r in roots], []
  t = threading.Thread(target=srv.serve_forever, daemon=True)
  t.start()
  try:
    yield f'http://127.0.0.1:{srv.server_address[1]}', srv
  finally:
    srv.shutdown()
    srv.server_close()


def closed_port() -> int:
  """A port on 127.0.0.1 with nothing listening (a machine without internet)."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


if __name__ == '__main__':
  with serve(*sys.argv[1:]) as (url, _):
    print(url, flush=True)
    threading.Event().wait()
