"""The original KARPServer on 127.0.0.1, with the routes the tests call, driven over stdin/stdout.

Routes: echo (the text back), upper, fail (raises ValueError('boom')), num (returns an int, which
the original never answers), Mixed (registered in mixed case, which the original never reaches),
slow (echo after `delay` ms, for replies out of order) and reverse (asks the connected client's
`ping` route and returns what it said). Every handler call is reported as a `handled` event.
"""
import asyncio
import threading

from channel import event, serve
from karp.server import KARPServer


class Server(KARPServer):
    async def on_new_connection(self, client):
        event('connection', client=client.id)

    async def on_connection_lost(self, client):
        event('lost', client=client.id)


loop = asyncio.new_event_loop()
server = Server('127.0.0.1', 0)


def handled(request):
    event('handled', route=request.route, text=request.text, wants_reply=request.response)


@server.add_route(route='echo')
def echo(request):
    handled(request)
    return request.text


@server.add_route(route='upper')
def upper(request):
    handled(request)
    return request.text.upper()


@server.add_route(route='fail')
def fail(request):
    handled(request)
    raise ValueError('boom')


@server.add_route(route='num')
def num(request):
    handled(request)
    return 42


@server.add_route(route='Mixed')
def mixed_case(request):
    handled(request)
    return 'reached'


@server.add_route(route='slow')
async def slow(request):
    handled(request)
    delay, _, text = request.text.partition(':')
    await asyncio.sleep(int(delay) / 1000)
    return text


@server.add_route(route='reverse')
async def reverse(request):
    handled(request)
    client = next(iter(server.clients.values()))
    response = await client.request('ping', request.text, timeout=20)
    return f'client said {response.text}'


def call(coroutine, timeout=20):
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)


def only_client():
    (client,) = server.clients.values()
    return client


def request(route, text='', response=True):
    """Sends a request from the server to its one connected client."""
    reply = call(only_client().request(route, text, response=response, timeout=20))
    return None if reply is None else {'successful': reply.successful, 'text': reply.text}


async def start():
    task = asyncio.ensure_future(server.start())
    while server.server is None and not task.done():
        await asyncio.sleep(0)
    return server.server.sockets[0].getsockname()[1]


threading.Thread(target=loop.run_forever, daemon=True).start()
event('listening', port=call(start()))
serve({'request': request})
