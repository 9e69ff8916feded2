"""moto's S3 server with conditional writes made atomic, as AWS makes them.

moto checks `If-Match`/`If-None-Match` and then stores the object as two separate
steps, and its server answers requests on many threads: two concurrent conditional
PUTs on one key can both pass the check and both "win" (measured with moto 5.2.5:
15 of 200 rounds of 16 racers had more than one winner). AWS decides the condition
and the write as one step. Running every write request alone gives moto the same
guarantee: a write runs alone among the writes to its key (striped locks by
path, so writes to other keys, other tests' included, do not wait); reads run
concurrently.

Requests are not logged (werkzeug logs one line per request, which cost moto about
a sixth of its CPU in a `bench_store` run against it); `--log-requests` turns that
back on.

Usage: python .ci/s3_server.py [-H host] [-p port] [--log-requests]
"""

import argparse
import logging
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import run_simple

READS = ("GET", "HEAD", "OPTIONS")


STRIPES = 256


class OneWriteAtATime:
    def __init__(self, app):
        self.app = app
        self.locks = [threading.Lock() for _ in range(STRIPES)]

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD", "GET") in READS:
            return self.app(environ, start_response)
        # The bucket and key are the path (moto is addressed path-style here).
        path = environ.get("PATH_INFO", "")
        with self.locks[hash(path) % STRIPES]:
            # The whole response inside the lock: moto may build it lazily.
            return list(self.app(environ, start_response))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=9000)
    parser.add_argument("--log-requests", action="store_true")
    args = parser.parse_args()
    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, OneWriteAtATime(app), threaded=True)


if __name__ == "__main__":
    main()
