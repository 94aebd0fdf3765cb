"""The original KRPCServer on 127.0.0.1, driven over stdin/stdout; with --hook, its pre-method
hook is set to `hook`, whose arguments the `counter` method then returns.

It forks a process per request, so methods report through their results, never through events.
"""
import hashlib
import io
import sys
import threading

from channel import event, serve
from krpc.krpc import KRPCServer


class Managed(Exception):
    managed = True

    def __init__(self, code, message, info):
        self.code = code
        self.message = message
        self.info = info


class Sub:
    def hello(self, name):
        return f'hello {name}'


hooked = {}


class Methods:
    sub = Sub()

    def echo(self, value):
        return value

    def concat(self, *parts):
        return '|'.join(parts)

    def add(self, a, b):
        return a + b

    def kw(self, x, y):
        return f'{x}+{y}'

    def upload_info(self, label, *files):
        found = []
        for f in files:
            data = f.read()
            data = data if isinstance(data, bytes) else data.encode('utf-8')
            found.append({'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()})
        return {'label': label, 'files': found}

    def fail(self):
        raise ValueError('kaboom')

    def managed(self):
        raise Managed(42, 'Answer', 'more')

    def binary(self, size):
        size = int(size)
        return io.BytesIO((bytes(range(256)) * (size // 256 + 1))[:size])

    def zero(self):
        return 0

    def hook(self, **params):
        hooked.clear()
        hooked.update(params)

    def counter(self):
        return hooked.get('counter', 'no counter')

    def _secret(self):
        return 'exposed'


server = KRPCServer('127.0.0.1', 0)
server.register_instance(Methods())
if '--hook' in sys.argv:
    server.set_pre_method_hook_name('hook')
threading.Thread(target=server.serve_forever, daemon=True).start()
event('listening', port=server.server_address[1])
serve({})
