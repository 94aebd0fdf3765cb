"""The original KorvServer, driven over stdin/stdout: argv is the host key file and the
authorized_keys file.

KorvServer.start() listens on every interface at a fixed port; this driver makes the same
asyncssh server with KorvServer as its factory, on 127.0.0.1 and a free port instead. Its routes
are those of `korv serve` plus GET /boom (raises ValueError('kaboom')); each call is a `handled`
event, and each SSH connection a `connection` event and, when it goes, `lost`.
"""
import asyncio
import sys
import threading

import asyncssh
from channel import event, serve
from korv import KorvServer

host_key, authorized_keys = sys.argv[1], sys.argv[2]
items = {}


class Server(KorvServer):
    def connection_made(self, conn):
        event('connection')

    def connection_lost(self, exc):
        event('lost', error=None if exc is None else f'{type(exc).__name__}: {exc}')


def route(verb, resource):
    def register(handler):
        def handled(request):
            event('handled', verb=verb, resource=resource)
            return handler(request)
        Server().add_callback(verb, resource, handled)
        return handler
    return register


def name_of(body):
    return body.get('name') if isinstance(body, dict) and isinstance(body.get('name'), str) else ''


@route('GET', '/hello')
def hello(request):
    return 200, {'msg': 'Hello World!'}


@route('GET', '/echo')
def echo(request):
    return 200, request.get('body')


@route('GET', '/items')
def list_items(request):
    return 200, list(items.values())


@route('STORE', '/items')
def store(request):
    items[name_of(request['body'])] = request['body']
    return 200, {'stored': request['body']}


@route('UPDATE', '/items')
def update(request):
    items[name_of(request['body'])] = request['body']
    return 200, {'updated': request['body']}


@route('DELETE', '/items')
def delete(request):
    items.pop(name_of(request.get('body')), None)
    return 200, None


@route('GET', '/boom')
def boom(request):
    raise ValueError('kaboom')


loop = asyncio.new_event_loop()


async def start():
    server = await asyncssh.create_server(
        Server, '127.0.0.1', 0, server_host_keys=[host_key], authorized_client_keys=authorized_keys
    )
    return server.sockets[0].getsockname()[1]


threading.Thread(target=loop.run_forever, daemon=True).start()
event('listening', port=asyncio.run_coroutine_threadsafe(start(), loop).result(30))
serve({})
