"""Downloading a file so that a failed or interrupted transfer never leaves a partial file behind."""
import http.client
import os
import tempfile
import urllib.error
import urllib.request

from tqdm import tqdm

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60  # per socket operation, not for the whole transfer


class DownloadError(RuntimeError):
    """A download failed; the message is one line naming the address."""


def download(url, path):
    """Stream `url` (http, https or file) into a temporary file next to `path`, then rename it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            # disable=None: a bar on a terminal, silent in logs and tests.
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(url), leave=False,
                      disable=None) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            # http.client ends a body cut short without an error when it is read in chunks.
            if total is not None and received != total:
                raise DownloadError(f"{url}: the transfer broke off after {received} of {total} bytes")
        os.replace(tmp, path)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise DownloadError(f"{url}: unreachable ({err.reason})") from None
    except (http.client.HTTPException, OSError, ValueError) as err:
        raise DownloadError(f"{url}: {type(err).__name__}: {err}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
