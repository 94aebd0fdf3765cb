"""The original KRPCClient for the port in argv, driven over stdin/stdout.

The client calls urllib's Request.add_data(), which Python 3.4 removed; the one shim below puts
it back as it was (the body set, the Content-Length it was given kept), nothing else.
"""
import os
import sys
import tempfile
import threading
import urllib.request

from channel import event, serve
from krpc.krpc import KRPCClient, KRPCClientException


def add_data(self, data):
    length = self.get_header('Content-length')
    self.data = data
    if length is not None:
        self.add_header('Content-Length', length)


urllib.request.Request.add_data = add_data

PORT = int(sys.argv[1])
# Under TMPDIR, which the test gives each driver and removes afterwards, as it does the files
# the client itself writes there for binary results.
FILES = tempfile.mkdtemp(prefix='uploads-')


def file_arg(spec):
    """A file the client uploads: {"name", "text" | "pattern_bytes"}, opened as its caller would."""
    if 'text' in spec:
        data = spec['text'].encode('utf-8')
    else:
        size = spec['pattern_bytes']
        data = (bytes(range(256)) * (size // 256 + 1))[:size]
    path = os.path.join(FILES, spec['name'])
    with open(path, 'wb') as f:
        f.write(data)
    return open(path, 'rb')


def call(method, params=(), named=None, files=(), pmhparams=None):
    """One call on a fresh client; files go after the positional params, as file objects."""
    client = KRPCClient('127.0.0.1', PORT)
    if pmhparams is not None:
        client.set_pre_method_hook_params(pmhparams)
    target = client
    for part in method.split('.'):
        target = getattr(target, part)
    args = list(params) + [file_arg(spec) for spec in files]
    try:
        result = target(**named) if named is not None else target(*args)
    except KRPCClientException as error:
        return {'error': {'code': error.code, 'message': error.message, 'info': error.info}}
    if hasattr(result, 'read'):
        # A binary result: the client wrote it to a temporary file it opened as text.
        try:
            return {'binary_text': result.read()}
        finally:
            result.close()
            os.unlink(result.name)
    return {'result': result}


def call_many(calls):
    """Every call on its own thread at once: many calls in flight."""
    results = [None] * len(calls)

    def run(i, spec):
        try:
            results[i] = call(**spec)
        except Exception as error:  # noqa: BLE001 - reported per call
            results[i] = {'failed': f'{type(error).__name__}: {error}'}

    threads = [threading.Thread(target=run, args=(i, spec)) for i, spec in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


event('ready')
serve({'call': call, 'call_many': call_many})
