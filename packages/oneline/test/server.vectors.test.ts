import { once } from 'node:events'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { closed, Resources, wire } from './helpers.ts'

const res = new Resources()
afterEach(() => res.close())

describe('byte-exact against the original server', () => {
  it('answers ping with pong', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('ping_request'))
    expect(await c.bytes(wire('ping_response').length)).toEqual(wire('ping_response'))
  })

  it('passes cmd01 to the handler and writes its reply', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('origclient_send_cmd01_request'))
    expect(await c.bytes(wire('custom_cmd01_response').length)).toEqual(wire('custom_cmd01_response'))
  })

  it('passes an unknown command to the handler unchanged', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('custom_unknown_request'))
    expect(await c.line()).toBe('cb:"hello world":False\n')
  })

  it('delivers the empty command', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('empty_line_request'))
    expect(await c.bytes(wire('empty_line_response').length)).toEqual(wire('empty_line_response'))
  })

  it('keeps CR, so ping\\r is not ping', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write('ping\r\n')
    expect(await c.bytes(wire('crlf_ping_response').length)).toEqual(wire('crlf_ping_response'))
  })

  it('keeps NUL and control bytes', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('nul_and_ctrl_request'))
    expect(await c.line()).toBe('cb:"a\\u0000b\\tc":False\n')
  })

  it('answers two commands in one write in order', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('two_cmds_one_write_request'))
    expect(await c.bytes(wire('two_cmds_one_write_response').length)).toEqual(wire('two_cmds_one_write_response'))
  })

  it('joins a command split across writes', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    // "pi" travels with the first ping, so it waits in the server while that ping is answered.
    c.write('ping\npi')
    expect(await c.bytes(5)).toEqual(wire('ping_response'))
    c.write('ng\n')
    expect(await c.bytes(5)).toEqual(wire('split_cmd_response'))
  })

  it('writes each of several reply lines with LF', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('multi_response_request'))
    expect((await c.bytes(9)).toString()).toBe('r1\nr2\nr3\n')
  })

  it('writes nothing for a handler that returns nothing', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('no_response_request'))
    c.write(wire('ping_request'))
    // The first bytes after silent are the pong: silent added none (no_response_response).
    expect(wire('no_response_response')).toHaveLength(0)
    expect(await c.bytes(wire('ping_response').length)).toEqual(wire('ping_response'))
  })

  it('matches built-ins case-sensitively and without trimming', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write('PING\n')
    expect(await c.bytes(wire('case_sensitive_response').length)).toEqual(wire('case_sensitive_response'))
    c.write(wire('trailing_space_request'))
    expect(await c.line()).toBe('cb:"ping ":False\n')
  })

  it('closes on disconnect without writing anything', async () => {
    const { port } = await res.server()
    const c = await res.socket(port)
    c.write(wire('disconnect_request'))
    expect(await c.rest()).toEqual(wire('disconnect_response'))
  })

  it('serves a queued client after the first leaves, answering its early ping late', async () => {
    const { server, port } = await res.server()
    const c1 = await res.socket(port)
    c1.write(wire('ping_request'))
    expect(await c1.bytes(5)).toEqual(wire('c1_ping_response'))

    const c2 = await res.socket(port)
    const c2Received: Buffer[] = []
    c2.socket.on('data', (chunk: Buffer) => c2Received.push(chunk))
    // Reading from the start: the late pong may come in the same tick as c1's EOF, and a
    // 'data' listener alone would take it before a later read could see it.
    const late = wire('c2_queued_ping_answered_response')
    const lateReply = c2.bytes(late.length)
    c2.write(wire('c2_ping_while_c1_connected_request'))

    c1.write(wire('c1_ping_again_request'))
    expect(await c1.bytes(5)).toEqual(wire('c1_ping_again_response'))
    expect(server.queued).toBe(1)
    expect(Buffer.concat(c2Received)).toHaveLength(0)

    c1.write(wire('disconnect_request'))
    expect(await c1.rest()).toEqual(wire('c1_disconnect_response'))
    expect(await lateReply).toEqual(late)
    c2.write(wire('ping_request'))
    expect(await c2.bytes(5)).toEqual(wire('c2_ping_response'))
  })

  it('stops on shutdown: no bytes, EOF, queued clients closed, listener closed', async () => {
    const { server, port } = await res.server()
    const c1 = await res.socket(port)
    c1.write(wire('ping_request'))
    await c1.bytes(5)
    const queued = await res.socket(port)
    queued.write(wire('ping_request'))
    const queuedClosed = closed(queued.socket)
    const shutdown = once(server, 'shutdown')
    const serverClosed = once(server, 'close')

    const c1Port = c1.socket.localPort
    c1.write(wire('origclient_shutdown_request'))
    expect(await c1.rest()).toEqual(wire('origclient_shutdown_response'))
    const [connection] = await shutdown
    expect(connection).toMatchObject({ address: '127.0.0.1', port: c1Port })
    await queuedClosed
    await serverClosed
    const refused = net.connect({ host: '127.0.0.1', port })
    const [err] = await once(refused, 'error')
    expect(err).toMatchObject({ code: 'ECONNREFUSED' })
  })
})
