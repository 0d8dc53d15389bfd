"""A lookaside cache on 127.0.0.1 for tests: fedpkg's download layout and its upload CGI.

GET  <base>/rpms/<name>/<file>/<hashtype>/<hash>/<file>       the stored file
POST <base>/upload.cgi  name, filename, <hashtype>sum            -> "Available" or "Missing"
POST <base>/upload.cgi  multipart: name, <hashtype>sum, file     -> stores it after checking the hash
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BASE = "/repo/pkgs"


@dataclass
class Lookaside:
    root: Path
    url: str = ""
    uploads: list[tuple[str, str]] = field(default_factory=list)  # (name, filename) stored
    downloads: list[str] = field(default_factory=list)  # paths served
    server: ThreadingHTTPServer | None = None

    def path(self, name: str, filename: str, hashtype: str, digest: str) -> Path:
        return self.root / "rpms" / name / filename / hashtype / digest / filename

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _form(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    ctype = handler.headers.get("Content-Type", "")
    if ctype.startswith("multipart/form-data"):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + body)
        fields: dict[str, str] = {}
        upload = None
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if part.get_filename():
                upload = (str(part.get_filename()), data)
            else:
                fields[str(name)] = data.decode()
        return fields, upload
    return dict(urllib.parse.parse_qsl(body.decode())), None


def serve(root: Path) -> Lookaside:
    cache = Lookaside(root)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            parts = path.removeprefix(BASE + "/").split("/")
            if not path.startswith(BASE + "/") or len(parts) != 6 or parts[0] != "rpms" or ".." in parts:
                self._send(404, "not found")
                return
            f = cache.path(parts[1], parts[2], parts[3], parts[4])
            if parts[5] != parts[2] or not f.is_file():
                self._send(404, "not found")
                return
            cache.downloads.append(path)
            data = f.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if urllib.parse.urlsplit(self.path).path != BASE + "/upload.cgi":
                self._send(404, "not found")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            fields, upload = _form(self, body)
            hashtype = next((k[:-3] for k in fields if k.endswith("sum") and k[:-3] in hashlib.algorithms_available),
                            None)
            name = fields.get("name")
            if not name or hashtype is None:
                self._send(400, "Required field missing")
                return
            digest = fields[f"{hashtype}sum"]
            filename = upload[0] if upload else fields.get("filename", "")
            target = cache.path(name, filename, hashtype, digest)
            if upload is None:
                self._send(200, "Available" if target.is_file() else "Missing")
                return
            if hashlib.new(hashtype, upload[1]).hexdigest() != digest:
                self._send(400, "Checksum mismatch")
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(upload[1])
            cache.uploads.append((name, filename))
            self._send(200, f"File {filename} size {len(upload[1])} {hashtype.upper()} {digest} stored OK")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    cache.server = server
    cache.url = f"http://127.0.0.1:{server.server_address[1]}{BASE}"
    return cache
