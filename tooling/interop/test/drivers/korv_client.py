"""The original KorvClient, driven over stdin/stdout: one process, as many clients as `connect`
makes, numbered from 0.

A KorvClient connects in its constructor (its own event loop, on a thread of its own), so
`connect` answers {"client": N}, or {"refused": <error type>, "message": ...}. get() is the
client's blocking call; `requests` uses the callback form every verb has. `known_hosts` None is
the client's own default, which checks nothing.
"""
import asyncio
import queue
import threading

from channel import event, serve
from korv import KorvClient

clients = []
lock = threading.Lock()


def connect(port, key, known_hosts=None):
    try:
        client = KorvClient(host='127.0.0.1', port=port, client_keys=[key], known_hosts=known_hosts)
    except Exception as error:  # noqa: BLE001 - the refusal is what the test looks at
        return {'refused': type(error).__name__, 'message': str(error)}
    with lock:
        clients.append(client)
        return {'client': len(clients) - 1}


def reply(response):
    return {'request_id': response['request_id'], 'code': response['code'], 'body': response['body']}


def get(client, resource, body=None):
    return reply(clients[client].get(resource, body))


def requests(client, calls):
    """Sends every call before the first reply, then waits for them all."""
    korv = clients[client]
    verbs = {'GET': korv.get, 'STORE': korv.store, 'UPDATE': korv.update, 'DELETE': korv.delete}
    replies = [queue.Queue(1) for _ in calls]
    for call, answer in zip(calls, replies):
        verbs[call['verb']](call['resource'], call.get('body'), callback=answer.put)
    return [reply(answer.get(timeout=20)) for answer in replies]


def on_connection(client, act):
    """Runs act(connection) on the client's loop: the SSH connection, which it keeps no handle to."""
    korv = clients[client]
    connection = korv._session._chan.get_extra_info('connection')

    async def run():
        await act(connection)

    asyncio.run_coroutine_threadsafe(run(), korv._loop).result(20)


def close(client):
    """Closes the SSH connection cleanly and waits until it is closed."""
    async def closing(connection):
        connection.close()
        await connection.wait_closed()
    on_connection(client, closing)


def abort(client):
    """Drops the SSH connection at once, without a disconnect message."""
    async def aborting(connection):
        connection.abort()
        await connection.wait_closed()
    on_connection(client, aborting)


event('ready')
serve({'connect': connect, 'get': get, 'requests': requests, 'close': close, 'abort': abort})
